-- API keys the gateway accepts when GATEWAY_API_KEYS_POSTGRES=true. Only the
-- SHA-256 digest of a key is stored; zero limits mean unlimited. The gateway
-- re-reads the table every GATEWAY_API_KEYS_REFRESH, so adding, disabling
-- or deleting a row takes effect without a restart.

CREATE TABLE api_keys (
    key_sha256          bytea            PRIMARY KEY CHECK (length(key_sha256) = 32),
    name                text             NOT NULL DEFAULT '',
    max_connections     integer          NOT NULL DEFAULT 0 CHECK (max_connections >= 0),
    max_subscriptions   integer          NOT NULL DEFAULT 0 CHECK (max_subscriptions >= 0),
    requests_per_second double precision NOT NULL DEFAULT 0 CHECK (requests_per_second >= 0),
    disabled            boolean          NOT NULL DEFAULT false,
    created_at          timestamptz      NOT NULL DEFAULT now()
);
