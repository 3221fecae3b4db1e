-- Catalog lifecycle: archived units, the history of moves, and the audit log.

-- Set while the unit is archived; NULL for a live unit.
ALTER TABLE units ADD COLUMN archived_at timestamptz;

-- Every change of a unit's parent, so that a campaign closed before it is read on the tree it
-- closed with. `seq` orders moves made within one microsecond.
CREATE TABLE unit_moves (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id        text NOT NULL REFERENCES units (id),
    from_parent_id text REFERENCES units (id),
    to_parent_id   text REFERENCES units (id),
    moved_at       timestamptz NOT NULL
);

-- Who changed what: catalog changes and review decisions, written in the transaction of the
-- change. `before` and `after` are JSON objects of the changed fields, kept as the text written.
CREATE TABLE audit_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    actor       text NOT NULL,
    actor_role  text NOT NULL,
    action      text NOT NULL,
    target_kind text NOT NULL,
    target_id   text NOT NULL,
    before      text NOT NULL,
    after       text NOT NULL
);
CREATE INDEX audit_log_by_target ON audit_log (target_kind, target_id, seq);
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_by_time ON audit_log (recorded_at);
