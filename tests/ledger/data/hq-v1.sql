-- A headquarters database of schema 1 (loyalty-hq before the ledger), as the demo left it:
-- 4 members, 5 sales, a refund and an enrollment. The migration test opens it.
BEGIN TRANSACTION;
CREATE TABLE aliases(alias TEXT PRIMARY KEY, member_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE batches(
  rowid INTEGER PRIMARY KEY,
  store_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  answer TEXT NOT NULL,
  received_us INTEGER NOT NULL,
  UNIQUE(store_id, batch_id));
INSERT INTO "batches" VALUES(1,'S001','b-e83c6e078b03f0c2ea9c810e','dc329e43e112066ee6a0f9f8b6fcae305f490e139f9dc1e41fd00efd5eb3539b','{"results":[{"txn_id":"ae833557af19357c350d8719bd994935","status":"applied","reason":null,"member":{"id":"M-1001","version":2}},{"txn_id":"dd79f9cd970043204e75625903df316d","status":"applied","reason":null,"member":{"id":"M-5001","version":2}}]}',1796039734117999);
INSERT INTO "batches" VALUES(2,'S001','b-09a4002a7df9852681c3465b','1e1fb47ac609bb0c150526c2736562eeb16c2af546d04c4b6797cc4357d24040','{"results":[{"txn_id":"63e91b97733dec383eddc5d601c48b5a","status":"applied","reason":null,"member":{"id":"M-1001","version":3}},{"txn_id":"4fbbfe1def3baeed2574686889dba027","status":"applied","reason":null,"member":{"id":"M-3001","version":2}},{"txn_id":"a2cca5f08143ae58ed9e96d18ad0475b","status":"applied","reason":null,"member":{"id":"T-S001-T01-d3689be87d2b89de","version":1}},{"txn_id":"baf20cabefd9370c7d41b48cb4f77d60","status":"applied","reason":null,"member":{"id":"T-S001-T01-d3689be87d2b89de","version":2}},{"txn_id":"0be2476c9c74bfea92576b872e4d1791","status":"applied","reason":null,"member":{"id":"M-1001","version":4}}]}',1796039734464478);
CREATE TABLE coupons(
  code TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  member_id TEXT,
  definition TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE member_codes(hash BLOB PRIMARY KEY, member_id TEXT NOT NULL, kind TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO "member_codes" VALUES(X'06B55BD27706684309F10A7C8F9D862A14CC33F67DDD109F7EF902671728FBEF','M-5001','phone');
INSERT INTO "member_codes" VALUES(X'1155AF67D95C915FCA4BFC72270124A28D964E5AF7E30B765EEF27BD310E48AC','M-3001','phone');
INSERT INTO "member_codes" VALUES(X'3084A3B2F897957918A6D266D1D788CFA07E41569418458DEAF9FCF497EC8927','T-S001-T01-d3689be87d2b89de','phone');
INSERT INTO "member_codes" VALUES(X'3538060611B4D7593E9F355B12534F803681221D4185CBB63AA1C75146DF481E','M-1001','phone');
INSERT INTO "member_codes" VALUES(X'CB9CDB029BCA3288388BBC61A9D3EF0C4B557C0303B7C85ECED49AA192CE7878','M-1001','card');
CREATE TABLE members(
  id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  phone TEXT,
  masked_name TEXT NOT NULL,
  tier TEXT NOT NULL,
  birthday INTEGER,
  purchases INTEGER NOT NULL DEFAULT 0,
  last_purchase_us INTEGER,
  last_purchase_off INTEGER,
  points INTEGER NOT NULL DEFAULT 0,
  created_us INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO "members" VALUES('M-1001',4,10,'Li Fang','13800138000','L* F***','gold',517,2,1796046935000000,480,6395,1796039734019360);
INSERT INTO "members" VALUES('M-3001',2,7,'Chen Jing','13900139000','C*** J***','gold',NULL,1,1796046935000000,480,870,1796039734019360);
INSERT INTO "members" VALUES('M-5001',2,5,'Wang Ming','13600136000','W*** M***','black',NULL,1,1796039734000000,480,798,1796039734019360);
INSERT INTO "members" VALUES('T-S001-T01-d3689be87d2b89de',2,9,'Zhang Wei','13712345678','Z**** W**','silver',1129,1,1796046935000000,480,126,1796039734464478);
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO "meta" VALUES('feed_seq',10);
CREATE TABLE refunds(
  txn_id TEXT PRIMARY KEY,
  sale_txn_id TEXT NOT NULL,
  refund_id TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  points_taken_back INTEGER NOT NULL,
  points_given_back INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO "refunds" VALUES('0be2476c9c74bfea92576b872e4d1791','63e91b97733dec383eddc5d601c48b5a','F-0001',12255,184,0);
CREATE TABLE rules(
  rowid INTEGER PRIMARY KEY,
  version TEXT NOT NULL UNIQUE,
  json TEXT NOT NULL,
  published_us INTEGER NOT NULL);
INSERT INTO "rules" VALUES(1,'demo-2026.1','{
  "version": "demo-2026.1",
  "currency": "CNY",
  "utc_offset": "+08:00",
  "minor_per_unit": 100,
  "tiers": [
    {"id": "silver", "name": "Silver", "min_spend_minor": 0,       "discount_bp": 0,    "earn_multiplier_pct": 100},
    {"id": "gold",   "name": "Gold",   "min_spend_minor": 300000,  "discount_bp": 500,  "earn_multiplier_pct": 150},
    {"id": "black",  "name": "Black",  "min_spend_minor": 1000000, "discount_bp": 1000, "earn_multiplier_pct": 200}
  ],
  "qualification": {"window_days": 365, "grace_days": 90},
  "earn": {"points_per_unit": 1, "excluded_categories": ["tobacco", "gift_card"],
           "bonus": [
             {"id": "green", "categories": ["eco"], "multiplier_pct": 200},
             {"id": "shoe-week", "categories": ["shoes"], "multiplier_pct": 300,
              "valid_from": "2026-11-20T00:00:00+08:00", "valid_to": "2026-11-27T00:00:00+08:00"}
           ]},
  "birthday": {"window": "month", "multiplier_pct": 200},
  "first_purchase": {"discount_bp": 2000},
  "winback": [
    {"min_dormant_days": 90,  "discount_bp": 2000},
    {"min_dormant_days": 180, "discount_bp": 3000},
    {"min_dormant_days": 365, "discount_bp": 4000}
  ],
  "discount": {"stacking": "best_of", "excluded_categories": ["tobacco", "gift_card"]},
  "redeem": {"minor_per_100_points": 100, "min_points": 100, "step_points": 100, "max_share_bp": 5000,
             "offline_after_minutes": 15, "offline_daily_limit_points": 2000},
  "coupons": {"max_per_sale": 1},
  "expiry": {"months": 24}
}
',1796039734009597);
CREATE TABLE sales(
  txn_id TEXT PRIMARY KEY,
  store_id TEXT NOT NULL,
  receipt_id TEXT NOT NULL,
  member_id TEXT,
  payable_minor INTEGER NOT NULL,
  points_earned INTEGER NOT NULL,
  points_redeemed INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO "sales" VALUES('4fbbfe1def3baeed2574686889dba027','S001','R-0004','M-3001',34720,520,2000);
INSERT INTO "sales" VALUES('63e91b97733dec383eddc5d601c48b5a','S001','R-0003','M-1001',81415,1221,0);
INSERT INTO "sales" VALUES('ae833557af19357c350d8719bd994935','S001','R-0001','M-1001',23920,358,0);
INSERT INTO "sales" VALUES('baf20cabefd9370c7d41b48cb4f77d60','S001','R-0005','T-S001-T01-d3689be87d2b89de',16140,126,0);
INSERT INTO "sales" VALUES('dd79f9cd970043204e75625903df316d','S001','R-0002','M-5001',26880,678,0);
CREATE TABLE stores(
  store_id TEXT PRIMARY KEY,
  last_batch_us INTEGER NOT NULL,
  txns INTEGER NOT NULL,
  last_txn_lag_us INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO "stores" VALUES('S001',1796039734464478,7,-7200535522);
CREATE TABLE txns(
  rowid INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  digest TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  member_id TEXT,
  member_version INTEGER,
  at_us INTEGER NOT NULL,
  received_us INTEGER NOT NULL,
  body TEXT NOT NULL);
INSERT INTO "txns" VALUES(1,'ae833557af19357c350d8719bd994935','S001','T01','sale','daddafa5b3d78460e68a7b38de62682d0834b0c39e59ecd6c01903c614d980a2','applied',NULL,'M-1001',2,1796039734000000,1796039734117999,'{"at":"2026-11-30T19:55:34+08:00","input":{"basket":[{"amount_minor":29900,"category":"apparel","id":"1","qty":1,"sku":"DRESS-01"}],"context":{"offline":false,"pending_points":0,"redeemed_today_offline":0},"member":{"birthday":"05-17","id":"M-1001","points":5000,"purchases":0,"tier":"gold"},"now":"2026-11-30T19:55:34+08:00"},"kind":"sale","member_id":"M-1001","quote":{"birthday":false,"coupon_discount_minor":0,"coupon_rejected":null,"gross_minor":29900,"lines":[{"coupon_discount_minor":0,"id":"1","member_discount_minor":5980,"net_minor":23920,"points_earned":358,"points_redeemed":0,"redeem_value_minor":0}],"max_redeemable_points":5000,"member_discount_bp":2000,"member_discount_minor":5980,"member_discount_reason":"first_purchase","payable_minor":23920,"points_earned":358,"redeem_points":0,"redeem_rejected":null,"redeem_value_minor":0},"receipt_id":"R-0001","rules_version":"demo-2026.1","store_id":"S001","till_id":"T01","txn_id":"ae833557af19357c350d8719bd994935"}');
INSERT INTO "txns" VALUES(2,'dd79f9cd970043204e75625903df316d','S001','T01','sale','c292b8cb5d14b79851923da6dffb8728ba9b878183692b35bed9f7882bf90c74','applied',NULL,'M-5001',2,1796039734000000,1796039734117999,'{"at":"2026-11-30T19:55:34+08:00","input":{"basket":[{"amount_minor":19900,"category":"apparel","id":"1","qty":1,"sku":"JEANS-4"},{"amount_minor":4900,"category":"accessories","id":"2","qty":1,"sku":"BELT-2"},{"amount_minor":8800,"category":"eco","id":"3","qty":1,"sku":"BAG-ECO"}],"context":{"offline":false,"pending_points":0,"redeemed_today_offline":0},"member":{"id":"M-5001","points":120,"purchases":0,"tier":"black"},"now":"2026-11-30T19:55:34+08:00"},"kind":"sale","member_id":"M-5001","quote":{"birthday":false,"coupon_discount_minor":0,"coupon_rejected":null,"gross_minor":33600,"lines":[{"coupon_discount_minor":0,"id":"1","member_discount_minor":3980,"net_minor":15920,"points_earned":318,"points_redeemed":0,"redeem_value_minor":0},{"coupon_discount_minor":0,"id":"2","member_discount_minor":980,"net_minor":3920,"points_earned":78,"points_redeemed":0,"redeem_value_minor":0},{"coupon_discount_minor":0,"id":"3","member_discount_minor":1760,"net_minor":7040,"points_earned":282,"points_redeemed":0,"redeem_value_minor":0}],"max_redeemable_points":100,"member_discount_bp":2000,"member_discount_minor":6720,"member_discount_reason":"first_purchase","payable_minor":26880,"points_earned":678,"redeem_points":0,"redeem_rejected":null,"redeem_value_minor":0},"receipt_id":"R-0002","rules_version":"demo-2026.1","store_id":"S001","till_id":"T01","txn_id":"dd79f9cd970043204e75625903df316d"}');
INSERT INTO "txns" VALUES(3,'63e91b97733dec383eddc5d601c48b5a','S001','T01','sale','721657573e90b59b2c9dd6c1a92587b873cfb5ff7cdfa80a30e1c24a9dc9a9a4','applied',NULL,'M-1001',3,1796046935000000,1796039734464478,'{"at":"2026-11-30T21:55:35+08:00","input":{"basket":[{"amount_minor":59900,"category":"apparel","id":"1","qty":1,"sku":"COAT-9"},{"amount_minor":25800,"category":"accessories","id":"2","qty":2,"sku":"SCARF-3"}],"context":{"offline":true,"pending_points":0,"redeemed_today_offline":0},"member":{"birthday":"05-17","id":"M-1001","last_purchase_at":"2026-11-30T19:55:34+08:00","points":5358,"purchases":1,"tier":"gold"},"now":"2026-11-30T21:55:35+08:00","redeem_points":3000},"kind":"sale","member_id":"M-1001","quote":{"birthday":false,"coupon_discount_minor":0,"coupon_rejected":null,"gross_minor":85700,"lines":[{"coupon_discount_minor":0,"id":"1","member_discount_minor":2995,"net_minor":56905,"points_earned":853,"points_redeemed":0,"redeem_value_minor":0},{"coupon_discount_minor":0,"id":"2","member_discount_minor":1290,"net_minor":24510,"points_earned":368,"points_redeemed":0,"redeem_value_minor":0}],"max_redeemable_points":2000,"member_discount_bp":500,"member_discount_minor":4285,"member_discount_reason":"tier","payable_minor":81415,"points_earned":1221,"redeem_points":0,"redeem_rejected":"offline_limit","redeem_value_minor":0},"receipt_id":"R-0003","rules_version":"demo-2026.1","store_id":"S001","till_id":"T01","txn_id":"63e91b97733dec383eddc5d601c48b5a"}');
INSERT INTO "txns" VALUES(4,'4fbbfe1def3baeed2574686889dba027','S001','T01','sale','4f6fe4135ab8a669574c25c0e62aa17c1076b0c321a07d4533457b0dfd920df7','applied',NULL,'M-3001',2,1796046935000000,1796039734464478,'{"at":"2026-11-30T21:55:35+08:00","input":{"basket":[{"amount_minor":45900,"category":"apparel","id":"1","qty":1,"sku":"KNIT-7"}],"context":{"offline":true,"pending_points":0,"redeemed_today_offline":0},"member":{"id":"M-3001","points":2350,"purchases":0,"tier":"gold"},"now":"2026-11-30T21:55:35+08:00","redeem_points":2000},"kind":"sale","member_id":"M-3001","quote":{"birthday":false,"coupon_discount_minor":0,"coupon_rejected":null,"gross_minor":45900,"lines":[{"coupon_discount_minor":0,"id":"1","member_discount_minor":9180,"net_minor":34720,"points_earned":520,"points_redeemed":2000,"redeem_value_minor":2000}],"max_redeemable_points":2000,"member_discount_bp":2000,"member_discount_minor":9180,"member_discount_reason":"first_purchase","payable_minor":34720,"points_earned":520,"redeem_points":2000,"redeem_rejected":null,"redeem_value_minor":2000},"receipt_id":"R-0004","rules_version":"demo-2026.1","store_id":"S001","till_id":"T01","txn_id":"4fbbfe1def3baeed2574686889dba027"}');
INSERT INTO "txns" VALUES(5,'a2cca5f08143ae58ed9e96d18ad0475b','S001','T01','enrollment','6ec160992ddc8e1afa144c15758b771d34a10c11be9644843b413c0620420358','applied',NULL,'T-S001-T01-d3689be87d2b89de',1,1796039734287136,1796039734464478,'{"at":"2026-11-30T11:55:34.287136Z","code_hash":"3084a3b2f897957918a6d266d1d788cfa07e41569418458deaf9fcf497ec8927","kind":"enrollment","masked_name":"Z**** W**","member_id":"T-S001-T01-d3689be87d2b89de","sealed":{"alg":"RSA-OAEP-256+A256GCM","data":"ruERQYyYUWGk6G6gtqyFqZUpxx9aWkNf+Llffza/6nuDR6u2LoRb/KoDMA9dpaOKg1MNYnh9Kyd80kh5d/8mD4ChNyRve2CVNmpQor94R2QhS/bI/wofdY2VdAe4pWv1r/skfOlnlIWG0whmUL0Op62Kdn9Sf0HJL+XEic7wDv9bBLP/Ujvka2eSq4eF0WP1drySZw2gaN7JYuoRtqvJ9pRN0+c=","iv":"E77L64M31X/x4MZk","key":"bjN6oNoxCgNPW+gnnc7DD1wudRYiqLzV5k/V4bQOg6yCf6/jqhKBMrNDf36QViSkKMvA0Q6yzKCYc16sgpzIBzigSELpnTl8s93ZWEYIKvGfKiowfovP4U5W+vnWA+dmd+z/d6xfYdNbVNlA4c10ouI5GjCX3yFhHoehGELeuazR8P2Ywl6VVaBTlORJZqI5VHxBkMlYDSgiEwxW/7dHEr2aPAnY2WU1QVfGZw0A/kE+EYP6Za6/0pIGbNozc2B/atpXGeWAr6176ck7Ei1JCsDpILFrH7ZlT7eYcw6d6GJbfHCHJG6LIoFYXQCUW7/Y7MbUVBEN0aGwF3ZojsFstw==","tag":"TgwCeUCNu5Oe7gFsR2ptvg=="},"store_id":"S001","tier":"silver","till_id":"T01","txn_id":"a2cca5f08143ae58ed9e96d18ad0475b"}');
INSERT INTO "txns" VALUES(6,'baf20cabefd9370c7d41b48cb4f77d60','S001','T01','sale','02336e1cda913ad11757ebb7a04cb8962908b94f2df1cc4fc28199bd9dcf34b0','applied',NULL,'T-S001-T01-d3689be87d2b89de',2,1796046935000000,1796039734464478,'{"at":"2026-11-30T21:55:35+08:00","input":{"basket":[{"amount_minor":15800,"category":"apparel","id":"1","qty":2,"sku":"TEE-02"},{"amount_minor":3500,"category":"tobacco","id":"2","qty":1,"sku":"CIG-20"}],"context":{"offline":true,"pending_points":0,"redeemed_today_offline":0},"member":{"id":"T-S001-T01-d3689be87d2b89de","points":0,"purchases":0,"tier":"silver"},"now":"2026-11-30T21:55:35+08:00"},"kind":"sale","member_id":"T-S001-T01-d3689be87d2b89de","quote":{"birthday":false,"coupon_discount_minor":0,"coupon_rejected":null,"gross_minor":19300,"lines":[{"coupon_discount_minor":0,"id":"1","member_discount_minor":3160,"net_minor":12640,"points_earned":126,"points_redeemed":0,"redeem_value_minor":0},{"coupon_discount_minor":0,"id":"2","member_discount_minor":0,"net_minor":3500,"points_earned":0,"points_redeemed":0,"redeem_value_minor":0}],"max_redeemable_points":0,"member_discount_bp":2000,"member_discount_minor":3160,"member_discount_reason":"first_purchase","payable_minor":16140,"points_earned":126,"redeem_points":0,"redeem_rejected":null,"redeem_value_minor":0},"receipt_id":"R-0005","rules_version":"demo-2026.1","store_id":"S001","till_id":"T01","txn_id":"baf20cabefd9370c7d41b48cb4f77d60"}');
INSERT INTO "txns" VALUES(7,'0be2476c9c74bfea92576b872e4d1791','S001','T01','refund','c5346c9042994ffd23e27538d37eac55e68527d7a8e07a4703898180028cc6bf','applied',NULL,'M-1001',4,1796039734315989,1796039734464478,'{"amount_minor":12255,"at":"2026-11-30T11:55:34.315989Z","kind":"refund","lines":[{"line_id":"2","net_minor":12255,"points_earned":184,"points_redeemed":0,"units":1}],"member_id":"M-1001","points_given_back":0,"points_taken_back":184,"receipt_id":"R-0003","refund_id":"F-0001","sale_txn_id":"63e91b97733dec383eddc5d601c48b5a","store_id":"S001","till_id":"T01","txn_id":"0be2476c9c74bfea92576b872e4d1791"}');
CREATE INDEX members_seq ON members(seq);
CREATE INDEX member_codes_member ON member_codes(member_id);
CREATE INDEX aliases_member ON aliases(member_id);
CREATE INDEX coupons_seq ON coupons(seq);
CREATE INDEX sales_receipt ON sales(store_id, receipt_id);
CREATE INDEX refunds_sale ON refunds(sale_txn_id);
COMMIT;
PRAGMA user_version=1;
