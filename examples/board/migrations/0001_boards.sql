-- Boards and their cards. Written in the SQL that SQLite and Postgres share, so that one set
-- of migrations serves both. A board's version counts the operations applied to it: the
-- sequence that clients resume from.
CREATE TABLE boards (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE cards (
    board_id TEXT NOT NULL REFERENCES boards (id),
    id TEXT NOT NULL,
    lane TEXT NOT NULL,
    position DOUBLE PRECISION NOT NULL,
    title TEXT NOT NULL,
    PRIMARY KEY (board_id, id)
);
