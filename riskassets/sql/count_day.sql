SELECT count() FROM $table WHERE network = {network:String} AND processing_date = {processing_date:Date}
