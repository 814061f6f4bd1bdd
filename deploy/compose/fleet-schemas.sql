-- Run once by the postgres image when its volume is new (/docker-entrypoint-initdb.d): the schemas
-- of the fleet trial (deploy/compose/fleet.toml): the queue's, and one ledger per account.
CREATE SCHEMA IF NOT EXISTS queue AUTHORIZATION ordersync;
CREATE SCHEMA IF NOT EXISTS shop01 AUTHORIZATION ordersync;
CREATE SCHEMA IF NOT EXISTS shop02 AUTHORIZATION ordersync;
CREATE SCHEMA IF NOT EXISTS shop03 AUTHORIZATION ordersync;
