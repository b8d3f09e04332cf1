-- The addresses a model trained on [first_date, last_train_date] has seen: alerted on a train
-- date, or labelled as known at the end of last_train_date. A test row of such an address is
-- "seen"; the others are the unseen rows every model is judged on (modeling.md). A
-- parameterised view, so the alert and cluster training queries share one rule.
-- Usage: FROM seen_addresses(network = 'torus', first_date = '2025-08-01', last_train_date = '2025-08-11')
CREATE OR REPLACE VIEW seen_addresses AS
SELECT DISTINCT address
FROM alert_features
WHERE network = {network:String}
  AND processing_date BETWEEN {first_date:Date} AND {last_train_date:Date}
UNION DISTINCT
SELECT address
FROM address_labels_at(network = {network:String}, known_at = {last_train_date:Date})
