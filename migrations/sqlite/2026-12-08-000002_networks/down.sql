DROP INDEX organisations_network;
ALTER TABLE organisations DROP COLUMN network_id;
DROP TABLE networks;
