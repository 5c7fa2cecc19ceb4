package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// FerretDB 1.x on PostgreSQL keeps each document in a jsonb column and turns an index on a
// field into a btree index on the expression (_jsonb -> 'field'). Its equality filters,
// though, are pushed down as containment, (_jsonb -> 'field') @> '"value"' (which also
// matches an array holding the value, as MongoDB does), and a btree index cannot answer
// containment: every lookup by an indexed field other than _id scanned the whole table
// (about 22 ms at 10,000 call logs, against 0.3 ms with an index that answers it).
//
// lookupIndexesSQL installs, in the database FerretDB keeps its data in, an event trigger
// that gives every such btree index a GIN companion on the same expressions
// (jsonb_path_ops, which answers @>), and gives the indexes that already exist theirs. The
// companions are PostgreSQL's only: FerretDB lists and drops the indexes of its own
// metadata, so clients never see them. A companion stays if its index is dropped, until the
// collection is (it only costs writes). Needs the right to create event triggers
// (superuser); without it the server runs as before.
const lookupIndexesSQL = `
CREATE OR REPLACE FUNCTION ai_calling_lookup_companions(index_oid oid) RETURNS void
LANGUAGE plpgsql AS $body$
DECLARE
	method text;
	table_oid oid;
	columns int;
	expression text;
BEGIN
	SELECT am.amname, i.indrelid, i.indnatts INTO method, table_oid, columns
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
	WHERE i.indexrelid = index_oid;
	IF method IS DISTINCT FROM 'btree' THEN
		RETURN;
	END IF;
	FOR position IN 1..columns LOOP
		expression := pg_get_indexdef(index_oid, position, true);
		-- (_jsonb -> 'field'::text) or, for a dotted path, (_jsonb #> '{a,b}'::text[])
		IF expression ~ '^\(_jsonb (->|#>) ''([^'']|'''')*''::text(\[\])?\)$' THEN
			EXECUTE format(
				'CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s jsonb_path_ops)',
				'lookup_' || left(md5(table_oid::text || expression), 24),
				table_oid::regclass,
				expression
			);
		END IF;
	END LOOP;
END
$body$;

CREATE OR REPLACE FUNCTION ai_calling_lookup_companions_on_create() RETURNS event_trigger
LANGUAGE plpgsql AS $body$
DECLARE
	command record;
BEGIN
	FOR command IN SELECT objid FROM pg_event_trigger_ddl_commands()
		WHERE command_tag = 'CREATE INDEX' AND object_type = 'index'
	LOOP
		PERFORM ai_calling_lookup_companions(command.objid);
	END LOOP;
END
$body$;

DO $body$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'ai_calling_lookup_companions') THEN
		CREATE EVENT TRIGGER ai_calling_lookup_companions ON ddl_command_end
			WHEN TAG IN ('CREATE INDEX')
			EXECUTE FUNCTION ai_calling_lookup_companions_on_create();
	END IF;
END
$body$;

SELECT ai_calling_lookup_companions(i.indexrelid)
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%';
`

// installLookupIndexes runs lookupIndexesSQL in the URL's database (see above).
func installLookupIndexes(ctx context.Context, rawURL string) error {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactedURL(rawURL), err)
	}
	defer conn.Close(context.Background())
	// One simple-protocol batch: several statements, no parameters.
	_, err = conn.Exec(ctx, lookupIndexesSQL)
	return err
}
