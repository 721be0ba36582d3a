"""The PostgreSQL + PostGIS backend: a connection pool, advisory locks, one GiST index."""
