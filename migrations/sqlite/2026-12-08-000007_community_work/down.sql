DROP TABLE community_work;
