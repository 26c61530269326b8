-- Every account update, partitioned by slot range. Written only when
-- PERSISTER_HISTORY=true; partitions are created by the persister as slots
-- advance (account_history_<first slot>) and dropped after
-- PERSISTER_HISTORY_RETENTION_SLOTS.

CREATE TABLE account_history (
    pubkey         bytea       NOT NULL,
    slot           bigint      NOT NULL,
    write_version  bigint      NOT NULL,
    owner          bytea       NOT NULL,
    lamports       bigint      NOT NULL,
    executable     boolean     NOT NULL,
    rent_epoch     bigint      NOT NULL,
    data           bytea       NOT NULL,
    data_len       integer     NOT NULL,
    txn_signature  bytea,
    commitment     smallint    NOT NULL,
    program        text,
    account_type   text,
    parsed         jsonb,
    json_parsed    boolean     NOT NULL DEFAULT false,
    decode_status  smallint    NOT NULL,
    decode_error   text,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pubkey, slot, write_version)
) PARTITION BY RANGE (slot);
