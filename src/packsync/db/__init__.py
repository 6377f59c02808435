"""The PostgreSQL layer: connections (asyncpg, embedded pgserver), migrations, queries."""
