ALTER TABLE $table REPLACE PARTITION ({network:String}, {processing_date:Date}) FROM $staging
