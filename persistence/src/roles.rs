//! PostgreSQL's two roles. The owner runs migrations and owns every table; the runtime role
//! (the server) may read and write the ordinary tables but only read and append to the audit
//! trail. Only a table's owner may disable or drop its triggers, so a server that is not the
//! owner cannot lift the trail's append-only triggers either. SQLite has no roles.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{Bool, Text};
use diesel::{Connection, RunQueryDsl};

use crate::connection::DbConnection;
use crate::error::{StoreError, StoreResult};

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Yes {
    #[diesel(sql_type = Bool)]
    yes: bool,
}

/// The role this connection acts as; `None` on SQLite.
pub fn current_role(conn: &mut DbConnection) -> StoreResult<Option<String>> {
    match conn {
        DbConnection::Sqlite(_) => Ok(None),
        DbConnection::Pg(_) => Ok(Some(
            diesel::sql_query("SELECT current_user::text AS name")
                .get_result::<Name>(conn)?
                .name,
        )),
    }
}

/// Whether this connection may apply migrations: on PostgreSQL, it acts as the owner of the
/// migrations' bookkeeping table (a superuser acts as every role), or, before the first
/// migration, may create tables in the schema. Always on SQLite.
pub fn can_migrate(conn: &mut DbConnection) -> StoreResult<bool> {
    match conn {
        DbConnection::Sqlite(_) => Ok(true),
        DbConnection::Pg(_) => Ok(diesel::sql_query(
            "SELECT CASE WHEN to_regclass('__diesel_schema_migrations') IS NULL
                THEN COALESCE(has_schema_privilege(current_schema(), 'CREATE'), false)
                ELSE pg_has_role((SELECT relowner FROM pg_class
                    WHERE oid = to_regclass('__diesel_schema_migrations')), 'USAGE')
             END AS yes",
        )
        .get_result::<Yes>(conn)?
        .yes),
    }
}

/// Gives `role` exactly the runtime role's privileges on every table and sequence in the
/// schema, taking away any others it had there; idempotent, so it is run after every
/// migration and new tables are covered. Refuses a role that does not exist, is this
/// connection's, is a superuser, or acts as the tables' owner: any of those could lift the
/// trail's triggers.
pub fn grant_runtime(conn: &mut DbConnection, role: &str) -> StoreResult<()> {
    if let DbConnection::Sqlite(_) = conn {
        return Err(StoreError::Migration(
            "SQLite has no roles to grant to (file permissions guard a SQLite database); \
             unset LINKWELL_RUNTIME_ROLE"
                .into(),
        ));
    }
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        quoted: String,
        #[diesel(sql_type = Text)]
        schema: String,
        #[diesel(sql_type = Bool)]
        exists: bool,
        #[diesel(sql_type = Bool)]
        is_self: bool,
        #[diesel(sql_type = Bool)]
        superuser: bool,
        #[diesel(sql_type = Bool)]
        owner: bool,
    }
    let check: Check = diesel::sql_query(
        "SELECT quote_ident($1) AS quoted,
                quote_ident(current_schema()) AS schema,
                r.oid IS NOT NULL AS exists,
                COALESCE(r.rolname = current_user, false) AS is_self,
                COALESCE(r.rolsuper, false) AS superuser,
                COALESCE(pg_has_role(r.oid, t.relowner, 'USAGE'), false) AS owner
         FROM (SELECT 1) one
         LEFT JOIN pg_roles r ON r.rolname = $1
         LEFT JOIN pg_class t ON t.oid = to_regclass('audit_events')",
    )
    .bind::<Text, _>(role)
    .get_result(conn)?;
    let refuse = |why: &str| {
        Err(StoreError::Migration(format!(
            "runtime role {role}: {why}; the runtime role must be a separate LOGIN role that \
             owns nothing (see docs/database-roles.md)"
        )))
    };
    if !check.exists {
        return refuse("no such role (create it first)");
    }
    if check.is_self {
        return refuse("is the role running the migrations");
    }
    if check.superuser {
        return refuse("is a superuser");
    }
    if check.owner {
        return refuse("owns the tables or is a member of their owner");
    }
    let (r, s) = (check.quoted, check.schema);
    // Everything is revoked and granted afresh in one transaction, so a privilege taken away
    // (UPDATE on the trail) stays away and nobody sees a moment without the rest. The one
    // column of the trail it may update is the caller's subject, for an erasure to turn
    // `anonymous@ADDRESS` into `anonymous`; the trail's trigger refuses any other change.
    let sql = format!(
        "GRANT USAGE ON SCHEMA {s} TO {r};
         REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};
         REVOKE INSERT, UPDATE, DELETE ON __diesel_schema_migrations FROM {r};
         REVOKE UPDATE, DELETE ON audit_events FROM {r};
         GRANT UPDATE (actor_sub) ON audit_events TO {r};
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r};
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r};"
    );
    conn.transaction(|c| c.batch_execute(&sql))?;
    Ok(())
}
