INSERT INTO commit_journal
VALUES ({network:String}, {group_name:String}, {processing_date:Date}, {state:String},
        {token:String}, {tables:Array(String)}, {stagings:Array(String)}, {rows:Array(UInt64)},
        now64(3))
