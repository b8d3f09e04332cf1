-- The labels stored with a training set, per date they were known at.
SELECT known_at, address, label, weight, labelled_on, last_created
FROM training_labels
WHERE network = {network:String} AND as_of_date = {as_of_date:Date}
ORDER BY known_at, address
