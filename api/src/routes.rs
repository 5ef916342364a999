//! Every route, listed once: the OpenAPI document and each worker's app are both built from
//! this list.

pub mod action_links;
pub mod api_clients;
pub mod audit_events;
pub mod auth_token;
pub mod community_work;
pub mod connections;
pub mod consent;
pub mod directory;
pub mod goals;
pub mod group_sessions;
pub mod health;
pub mod keys;
pub mod needs;
pub mod networks;
pub mod organisations;
pub mod outcomes;
pub mod people;
pub mod plans;
pub mod privacy;
pub mod referrals;
pub mod reports;
pub mod self_referrals;
pub mod sessions;
pub mod teams;
pub mod user_identities;
pub mod users;

/// Defines [`configure`] (documenting) and [`mount`] (not) from one list of routes.
macro_rules! every_route {
    (root: [$($root:path),* $(,)?], v1: [$($v1:path),* $(,)?] $(,)?) => {
        /// Mounts every route and documents it: for building the OpenAPI document.
        pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
            cfg$(.service($root))*
                .service(utoipa_actix_web::scope("/v1")$(.service($v1))*);
        }

        /// Mounts every route without documenting it: each worker builds its app with this,
        /// so the document is built once per process, not once per worker.
        pub fn mount(cfg: &mut actix_web::web::ServiceConfig) {
            cfg$(.service($root))*
                .service(actix_web::web::scope("/v1")$(.service($v1))*);
        }
    };
}

every_route! {
    root: [health::live, health::ready, keys::jwks],
    v1: [
        organisations::create_organisation,
        organisations::list_organisations,
        organisations::get_organisation,
        organisations::set_organisation_network,
        organisations::clear_organisation_network,
        networks::create_network,
        networks::list_networks,
        networks::get_network,
        auth_token::create_token,
        api_clients::create_api_client,
        api_clients::list_api_clients,
        api_clients::get_api_client,
        api_clients::revoke_api_client,
        teams::create_team,
        teams::list_teams,
        teams::get_team,
        teams::list_team_members,
        teams::add_team_member,
        teams::remove_team_member,
        users::create_user,
        users::list_users,
        users::get_user,
        users::deactivate_user,
        users::reactivate_user,
        user_identities::create_user_identity,
        user_identities::list_user_identities,
        user_identities::get_user_identity,
        user_identities::delete_user_identity,
        people::list_people,
        people::get_person,
        people::update_person,
        people::merge_people,
        people::dismiss_duplicate,
        privacy::erase_person,
        privacy::export_person,
        self_referrals::create_self_referral,
        referrals::create_referral,
        referrals::list_referrals,
        referrals::get_referral,
        referrals::update_referral,
        referrals::transition_referral,
        referrals::assign_referral,
        referrals::unassign_referral,
        referrals::hand_over_referral,
        referrals::get_referral_history,
        consent::record_consent,
        consent::list_consent,
        sessions::create_session,
        sessions::list_referral_sessions,
        sessions::get_session,
        sessions::update_session,
        group_sessions::create_group_session,
        group_sessions::list_group_sessions,
        group_sessions::get_group_session,
        group_sessions::update_group_session,
        group_sessions::add_group_attendee,
        group_sessions::list_group_attendees,
        group_sessions::mark_group_attendance,
        group_sessions::remove_group_attendee,
        community_work::create_community_work,
        community_work::list_community_work,
        community_work::get_community_work,
        plans::get_plan,
        plans::put_plan,
        goals::create_goal,
        goals::list_goals,
        goals::get_goal,
        goals::update_goal,
        directory::list_services,
        needs::list_needs,
        directory::create_service,
        directory::get_service,
        directory::update_service,
        connections::create_connection,
        connections::list_referral_connections,
        connections::list_connections,
        connections::get_connection,
        connections::transition_connection,
        connections::create_connection_note,
        connections::list_connection_notes,
        connections::get_shared_plan,
        connections::list_shared_goals,
        connections::create_progress_note,
        connections::list_connection_progress_notes,
        connections::list_goal_progress_notes,
        action_links::create_action_link,
        action_links::read_action_link,
        action_links::answer_action_link,
        outcomes::create_outcome,
        outcomes::list_outcomes,
        outcomes::get_outcome,
        outcomes::enter_outcome_in_error,
        reports::get_activity_report,
        reports::get_caseload_report,
        audit_events::list_audit_events,
    ],
}
