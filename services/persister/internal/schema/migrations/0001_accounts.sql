-- Latest state per account and latest slot per commitment.
-- Names are a contract with the gateway (docs/postgres-schema.md): never rename.

CREATE TABLE accounts (
    pubkey         bytea       PRIMARY KEY,          -- 32 raw bytes
    owner          bytea       NOT NULL,             -- 32 raw bytes, owning program
    slot           bigint      NOT NULL,
    write_version  bigint      NOT NULL,
    lamports       bigint      NOT NULL,
    executable     boolean     NOT NULL,
    rent_epoch     bigint      NOT NULL,             -- u64 bit pattern: u64::MAX is -1
    data           bytea       NOT NULL,
    data_len       integer     NOT NULL,
    txn_signature  bytea,                            -- 64 bytes or NULL
    commitment     smallint    NOT NULL,             -- fireholev1.Commitment
    program        text,                             -- "spl-token", ... or IDL name; NULL if unknown
    account_type   text,
    parsed         jsonb,                            -- NULL unless decoded
    json_parsed    boolean     NOT NULL DEFAULT false,
    decode_status  smallint    NOT NULL,             -- fireholev1.DecodeStatus
    decode_error   text,
    token_owner    bytea,                            -- SPL Token / Token-2022 token accounts only
    token_mint     bytea,
    token_delegate bytea,
    updated_at     timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);  -- room for HOT updates: most updates touch no indexed column

-- (owner, data_len) also serves queries by owner alone.
CREATE INDEX accounts_owner_data_len_idx ON accounts (owner, data_len);
CREATE INDEX accounts_token_owner_mint_idx ON accounts (token_owner, token_mint) WHERE token_owner IS NOT NULL;
CREATE INDEX accounts_token_mint_idx ON accounts (token_mint) WHERE token_mint IS NOT NULL;
CREATE INDEX accounts_token_delegate_idx ON accounts (token_delegate) WHERE token_delegate IS NOT NULL;

CREATE TABLE slots (
    commitment smallint    PRIMARY KEY,              -- 1 processed, 2 confirmed, 3 finalized
    slot       bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
