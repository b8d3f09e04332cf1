-- The addresses with a label known at the end of known_at.
SELECT address FROM address_labels_at(network = {network:String}, known_at = {known_at:Date})
