-- Where reconciliation with Stripe's event list stands, and which instance runs it now.
CREATE TABLE reconciliation (
    name            TEXT PRIMARY KEY,
    -- Events created at or after this (Unix seconds) are listed by the next pass.
    created_gte     BIGINT,
    -- A pass cut short by its call budget goes on after this event id.
    resume_after    TEXT,
    -- When the pass under way began (Unix seconds): the next pass's start, less an overlap.
    pass_started_at BIGINT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    updated_at      BIGINT NOT NULL
);
INSERT INTO reconciliation (name, updated_at) VALUES ('stripe_events', 0);
