-- Catalog lifecycle: archived units, the history of moves, and the audit log.

-- Set while the unit is archived (microseconds); NULL for a live unit.
ALTER TABLE units ADD COLUMN archived_at INTEGER;

-- Every change of a unit's parent, so that a campaign closed before it is read on the tree it
-- closed with. `seq` orders moves made within one microsecond.
CREATE TABLE unit_moves (
    seq            INTEGER PRIMARY KEY,
    unit_id        TEXT NOT NULL REFERENCES units (id),
    from_parent_id TEXT REFERENCES units (id),
    to_parent_id   TEXT REFERENCES units (id),
    moved_at       INTEGER NOT NULL
);

-- Who changed what: catalog changes and review decisions, written in the transaction of the
-- change. `before` and `after` are JSON objects of the changed fields.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL
);
CREATE INDEX audit_log_by_target ON audit_log (target_kind, target_id, seq);
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_by_time ON audit_log (recorded_at);
