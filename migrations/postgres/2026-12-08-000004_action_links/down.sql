DROP TABLE connection_action_links;
