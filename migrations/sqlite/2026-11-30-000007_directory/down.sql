DROP TABLE service_needs;
DROP TABLE services;
