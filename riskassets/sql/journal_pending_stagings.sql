-- The staging tables that pending commits still need (their latest entry is pending).
SELECT stagings
FROM
(
    SELECT argMax(state, written_at) AS state, argMax(stagings, written_at) AS stagings
    FROM commit_journal
    GROUP BY network, group_name, processing_date
)
WHERE state = 'pending'
