-- A till database of schema 3 (libloyalty 1.1): every state an outbox entry can be in, own and fetched
-- sales, a refund. Written with schema 3's own statements; tests/till/test_migration.cpp opens it.
BEGIN TRANSACTION;
CREATE TABLE coupons(
  code TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  member_id TEXT,
  definition TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE member_codes(hash BLOB PRIMARY KEY, member INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE members(
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  tier TEXT NOT NULL,
  masked_name TEXT NOT NULL,
  birthday INTEGER,
  purchases INTEGER NOT NULL,
  last_purchase_us INTEGER,
  last_purchase_off INTEGER,
  points INTEGER NOT NULL,
  expiry_points INTEGER,
  expiry_us INTEGER,
  expiry_off INTEGER,
  next_tier TEXT,
  next_tier_spend INTEGER);
INSERT INTO "members" VALUES(1,'M-1',5,'gold','W***',NULL,3,NULL,NULL,500,NULL,NULL,NULL,NULL,NULL);
INSERT INTO "members" VALUES(2,'M-2',2,'silver','L***',NULL,1,NULL,NULL,80,NULL,NULL,NULL,NULL,NULL);
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO "meta" VALUES('sale_digest',2);
CREATE TABLE offline_redeemed(
  member_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  points INTEGER NOT NULL,
  PRIMARY KEY(member_id, day)) WITHOUT ROWID;
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  member_id TEXT,
  points_delta INTEGER NOT NULL DEFAULT 0,
  at_us INTEGER,
  created_us INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  acked_version INTEGER,
  reason TEXT);
INSERT INTO "outbox" VALUES(1,'a1','sale','M-1',100,1000,1000,1,3,NULL);
INSERT INTO "outbox" VALUES(2,'a2','refund','M-1',-20,1100,1100,1,4,NULL);
INSERT INTO "outbox" VALUES(3,'a3','sale','M-1',50,5000,5000,0,NULL,NULL);
INSERT INTO "outbox" VALUES(4,'a4','sale','M-2',70,5100,5100,1,3,NULL);
INSERT INTO "outbox" VALUES(5,'a5','sale','M-2',10,5200,5200,2,NULL,'invalid_txn: refused');
INSERT INTO "outbox" VALUES(6,'a6','sale','M-1',30,5300,5300,3,NULL,'unknown_member: held');
INSERT INTO "outbox" VALUES(7,'a7','enrollment','T-S001-01',0,5400,5400,0,NULL,NULL);
INSERT INTO "outbox" VALUES(8,'a8','sale',NULL,0,1200,1200,1,0,NULL);
CREATE TABLE outbox_bodies(seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
INSERT INTO "outbox_bodies" VALUES(1,'{"txn_id":"a1","kind":"sale"}');
INSERT INTO "outbox_bodies" VALUES(2,'{"txn_id":"a2","kind":"refund"}');
INSERT INTO "outbox_bodies" VALUES(3,'{"txn_id":"a3","kind":"sale"}');
INSERT INTO "outbox_bodies" VALUES(4,'{"txn_id":"a4","kind":"sale"}');
INSERT INTO "outbox_bodies" VALUES(5,'{"txn_id":"a5","kind":"sale"}');
INSERT INTO "outbox_bodies" VALUES(6,'{"txn_id":"a6","kind":"sale"}');
INSERT INTO "outbox_bodies" VALUES(7,'{"txn_id":"a7","kind":"enrollment"}');
INSERT INTO "outbox_bodies" VALUES(8,'{"txn_id":"a8","kind":"sale"}');
CREATE TABLE refunds(
  refund_id TEXT PRIMARY KEY,
  receipt_id TEXT NOT NULL,
  result TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '', outbox_seq INTEGER) WITHOUT ROWID;
INSERT INTO "refunds" VALUES('F-1','R-1','{}','',2);
CREATE TABLE "sales"(
  origin TEXT NOT NULL,
  receipt_id TEXT NOT NULL,
  outbox_seq INTEGER NOT NULL,
  digest TEXT NOT NULL,
  member_id TEXT,
  coupon_code TEXT,
  lines TEXT NOT NULL,
  foreign_txn_id TEXT,
  foreign_body TEXT,
  PRIMARY KEY(origin, receipt_id)) WITHOUT ROWID;
INSERT INTO "sales" VALUES('','R-1',1,'d-R-1','M-1',NULL,'[{"id":"1","units":1,"net_minor":1000,"points_earned":60,"points_redeemed":0},{"id":"2","units":1,"net_minor":500,"points_earned":20,"points_redeemed":0}]',NULL,NULL);
INSERT INTO "sales" VALUES('','R-3',3,'d-R-3','M-1',NULL,'[{"id":"1","units":1,"net_minor":900,"points_earned":50,"points_redeemed":0}]',NULL,NULL);
INSERT INTO "sales" VALUES('','R-4',4,'d-R-4','M-2',NULL,'[{"id":"1","units":1,"net_minor":700,"points_earned":70,"points_redeemed":0}]',NULL,NULL);
INSERT INTO "sales" VALUES('','R-5',5,'d-R-5','M-2',NULL,'[{"id":"1","units":1,"net_minor":100,"points_earned":10,"points_redeemed":0}]',NULL,NULL);
INSERT INTO "sales" VALUES('','R-6',6,'d-R-6','M-1',NULL,'[{"id":"1","units":1,"net_minor":300,"points_earned":30,"points_redeemed":0}]',NULL,NULL);
INSERT INTO "sales" VALUES('','R-8',8,'d-R-8',NULL,NULL,'[{"id":"1","units":1,"net_minor":400,"points_earned":0,"points_redeemed":0}]',NULL,NULL);
INSERT INTO "sales" VALUES('S002','R-1',0,'','M-1',NULL,'[{"id":"1","units":1,"net_minor":200,"points_earned":2,"points_redeemed":0}]','x9','{}');
CREATE INDEX member_codes_member ON member_codes(member);
CREATE INDEX outbox_to_send ON outbox(seq) WHERE state IN (0, 3);
CREATE INDEX sales_coupon ON sales(coupon_code) WHERE coupon_code IS NOT NULL;
CREATE INDEX refunds_sale ON refunds(origin, receipt_id);
CREATE INDEX sales_outbox ON sales(outbox_seq);
CREATE INDEX outbox_applied ON outbox(created_us) WHERE state = 1;
CREATE INDEX outbox_pending ON outbox(member_id, acked_version) WHERE member_id IS NOT NULL AND state != 2;
COMMIT;
PRAGMA user_version=3;
