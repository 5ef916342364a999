//! Every route, mounted once: the app and the OpenAPI document are both built from here.

pub mod api_clients;
pub mod audit_events;
pub mod auth_token;
pub mod connections;
pub mod consent;
pub mod directory;
pub mod goals;
pub mod health;
pub mod keys;
pub mod organisations;
pub mod outcomes;
pub mod people;
pub mod plans;
pub mod privacy;
pub mod referrals;
pub mod reports;
pub mod self_referrals;
pub mod sessions;
pub mod user_identities;
pub mod users;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every documented route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::live).service(health::ready).service(
        scope("/v1")
            .service(organisations::create_organisation)
            .service(organisations::list_organisations)
            .service(organisations::get_organisation)
            .service(auth_token::create_token)
            .service(api_clients::create_api_client)
            .service(api_clients::list_api_clients)
            .service(api_clients::get_api_client)
            .service(api_clients::revoke_api_client)
            .service(users::create_user)
            .service(users::list_users)
            .service(users::get_user)
            .service(users::deactivate_user)
            .service(users::reactivate_user)
            .service(user_identities::create_user_identity)
            .service(user_identities::list_user_identities)
            .service(user_identities::get_user_identity)
            .service(user_identities::delete_user_identity)
            .service(people::list_people)
            .service(people::get_person)
            .service(people::update_person)
            .service(people::merge_people)
            .service(people::dismiss_duplicate)
            .service(privacy::erase_person)
            .service(privacy::export_person)
            .service(self_referrals::create_self_referral)
            .service(referrals::create_referral)
            .service(referrals::list_referrals)
            .service(referrals::get_referral)
            .service(referrals::update_referral)
            .service(referrals::transition_referral)
            .service(referrals::assign_referral)
            .service(referrals::unassign_referral)
            .service(referrals::get_referral_history)
            .service(consent::record_consent)
            .service(consent::list_consent)
            .service(sessions::create_session)
            .service(sessions::list_referral_sessions)
            .service(sessions::get_session)
            .service(sessions::update_session)
            .service(plans::get_plan)
            .service(plans::put_plan)
            .service(goals::create_goal)
            .service(goals::list_goals)
            .service(goals::get_goal)
            .service(goals::update_goal)
            .service(directory::list_services)
            .service(directory::create_service)
            .service(directory::get_service)
            .service(directory::update_service)
            .service(connections::create_connection)
            .service(connections::list_referral_connections)
            .service(connections::list_connections)
            .service(connections::get_connection)
            .service(connections::transition_connection)
            .service(connections::create_connection_note)
            .service(connections::list_connection_notes)
            .service(outcomes::create_outcome)
            .service(outcomes::list_outcomes)
            .service(outcomes::get_outcome)
            .service(outcomes::enter_outcome_in_error)
            .service(reports::get_activity_report)
            .service(reports::get_caseload_report)
            .service(audit_events::list_audit_events),
    );
    cfg.service(keys::jwks);
}
