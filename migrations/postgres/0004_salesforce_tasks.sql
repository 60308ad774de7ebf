-- The failure Tasks created in Salesforce, one per failed attempt, so a retry never makes another.
CREATE TABLE salesforce_tasks (
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    attempt_id  TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (payment_id, attempt_id)
);
