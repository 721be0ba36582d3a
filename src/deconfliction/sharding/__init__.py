"""A deployment over several databases: the routing table, the shards, lists across them."""
