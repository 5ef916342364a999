DROP TABLE client_assertions;
DROP TABLE api_clients;
