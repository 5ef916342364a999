//! Tables in the type subset both backends share: TEXT ids and codes, TIMESTAMP in UTC.

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        ods_code -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        network_id -> Nullable<Text>,
    }
}

diesel::table! {
    networks (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    people (id) {
        id -> Text,
        given_name -> Text,
        family_name -> Text,
        date_of_birth -> Date,
        nhs_number -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        postcode -> Nullable<Text>,
        address -> Nullable<Text>,
        preferred_contact -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        possible_duplicate_of -> Nullable<Text>,
        merged_into -> Nullable<Text>,
        possible_duplicate_reason -> Nullable<Text>,
        erased_at -> Nullable<Timestamp>,
        erased_by -> Nullable<Text>,
        erasure_reason -> Nullable<Text>,
    }
}

diesel::table! {
    person_merges (id) {
        id -> Text,
        survivor_id -> Text,
        duplicate_id -> Text,
        actor_sub -> Text,
        merged_at -> Timestamp,
    }
}

diesel::table! {
    referrals (id) {
        id -> Text,
        person_id -> Text,
        status -> Text,
        source -> Text,
        summary -> Nullable<Text>,
        referrer_org_id -> Nullable<Text>,
        external_reference -> Nullable<Text>,
        created_by -> Text,
        received_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        status_reason -> Nullable<Text>,
        closure_reason -> Nullable<Text>,
        gp_record_code -> Nullable<Text>,
        assignee_id -> Nullable<Text>,
        first_contact_at -> Nullable<Timestamp>,
        person_as_sent -> Nullable<Text>,
        change_seq -> BigInt,
        reference -> Nullable<Text>,
        introduced_by -> Nullable<Text>,
        anonymised_at -> Nullable<Timestamp>,
        team_id -> Nullable<Text>,
        specific_needs -> Nullable<Text>,
    }
}

diesel::table! {
    referral_status_changes (id) {
        id -> Text,
        referral_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason_code -> Nullable<Text>,
        reason -> Nullable<Text>,
        actor_sub -> Text,
        actor_role -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        display_name -> Text,
        role -> Text,
        org_id -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    referral_reasons (referral_id, reason) {
        referral_id -> Text,
        reason -> Text,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        location -> Nullable<Text>,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor_sub -> Text,
        actor_role -> Text,
        actor_org_id -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        resource_ids -> Nullable<Text>,
        outcome -> Text,
        request_id -> Text,
        person_id -> Nullable<Text>,
        referral_id -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        referral_id -> Text,
        kind -> Text,
        mode -> Text,
        scheduled_at -> Timestamp,
        status -> Text,
        duration_minutes -> Nullable<Integer>,
        notes -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    plans (referral_id) {
        referral_id -> Text,
        what_matters -> Text,
        strengths -> Nullable<Text>,
        agreed_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    goals (id) {
        id -> Text,
        referral_id -> Text,
        description -> Text,
        target_date -> Nullable<Date>,
        status -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    goal_status_changes (id) {
        id -> Text,
        goal_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_sub -> Text,
        actor_role -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    services (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        organisation_id -> Nullable<Text>,
        area -> Nullable<Text>,
        postcode -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        website -> Nullable<Text>,
        accepts_referrals -> Bool,
        status -> Text,
        capacity -> Text,
        min_age -> Nullable<Integer>,
        search_text -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        max_age -> Nullable<Integer>,
    }
}

diesel::table! {
    service_opening_hours (service_id, day, opens) {
        service_id -> Text,
        day -> Text,
        opens -> Text,
        closes -> Text,
    }
}

diesel::table! {
    service_needs (service_id, need) {
        service_id -> Text,
        need -> Text,
    }
}

diesel::table! {
    connections (id) {
        id -> Text,
        referral_id -> Text,
        organisation_id -> Nullable<Text>,
        service_id -> Nullable<Text>,
        need -> Text,
        note_for_partner -> Nullable<Text>,
        shared_fields -> Text,
        status -> Text,
        reason_code -> Nullable<Text>,
        reason -> Nullable<Text>,
        outcome -> Nullable<Text>,
        last_note_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        change_seq -> BigInt,
        frozen_details -> Nullable<Text>,
        answered_by_staff -> Bool,
        on_behalf_of -> Nullable<Text>,
    }
}

diesel::table! {
    consent_records (id) {
        id -> Text,
        referral_id -> Text,
        scope -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        actor_sub -> Text,
        actor_role -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    connection_notes (id) {
        id -> Text,
        connection_id -> Text,
        text -> Text,
        author_sub -> Text,
        author_role -> Text,
        author_org_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outcomes (id) {
        id -> Text,
        referral_id -> Text,
        instrument -> Text,
        timepoint -> Text,
        recorded_at -> Timestamp,
        swemwbs_answers -> Nullable<Text>,
        raw_score -> Nullable<Integer>,
        metric_hundredths -> Nullable<Integer>,
        life_satisfaction -> Nullable<Integer>,
        worthwhile -> Nullable<Integer>,
        happiness -> Nullable<Integer>,
        anxiety -> Nullable<Integer>,
        scoring_version -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        version -> BigInt,
        status -> Text,
        error_reason -> Nullable<Text>,
        error_by -> Nullable<Text>,
        error_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(referrals -> people (person_id));
diesel::joinable!(sessions -> referrals (referral_id));
diesel::joinable!(connections -> referrals (referral_id));
diesel::joinable!(consent_records -> referrals (referral_id));
diesel::joinable!(referral_reasons -> referrals (referral_id));
diesel::joinable!(referral_status_changes -> referrals (referral_id));

diesel::table! {
    api_clients (id) {
        id -> Text,
        client_id -> Text,
        name -> Text,
        role -> Text,
        org_id -> Nullable<Text>,
        secret_hash -> Nullable<Text>,
        jwks -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Text,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        version -> BigInt,
    }
}

diesel::table! {
    client_assertions (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    user_identities (id) {
        id -> Text,
        user_id -> Text,
        issuer -> Text,
        subject -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::joinable!(user_identities -> users (user_id));

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        area -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Text,
        user_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    referral_team_moves (id) {
        id -> Text,
        referral_id -> Text,
        from_team_id -> Nullable<Text>,
        to_team_id -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        actor_sub -> Text,
        actor_role -> Text,
        moved_at -> Timestamp,
    }
}

diesel::table! {
    connection_action_links (id) {
        id -> Text,
        connection_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    goal_progress_notes (id) {
        id -> Text,
        goal_id -> Text,
        connection_id -> Text,
        text -> Text,
        author_sub -> Text,
        author_role -> Text,
        author_org_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    group_sessions (id) {
        id -> Text,
        kind -> Text,
        mode -> Text,
        title -> Text,
        scheduled_at -> Timestamp,
        status -> Text,
        duration_minutes -> Nullable<Integer>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    group_session_facilitators (group_session_id, user_id) {
        group_session_id -> Text,
        user_id -> Text,
        position -> Integer,
    }
}

diesel::table! {
    group_attendees (id) {
        id -> Text,
        group_session_id -> Text,
        referral_id -> Text,
        attendance -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    community_work (id) {
        id -> Text,
        service_id -> Nullable<Text>,
        group_name -> Nullable<Text>,
        activity -> Text,
        minutes -> Integer,
        occurred_at -> Timestamp,
        team_id -> Nullable<Text>,
        notes -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_clients,
    organisations,
    people,
    person_merges,
    referrals,
    referral_reasons,
    referral_status_changes,
    sessions,
    plans,
    goals,
    goal_status_changes,
    services,
    service_needs,
    connections,
    connection_notes,
    consent_records,
    outcomes,
    users,
    user_identities,
    idempotency_keys,
    audit_events,
    teams,
    team_members,
    networks,
    referral_team_moves,
    connection_action_links,
    goal_progress_notes,
    group_sessions,
    group_session_facilitators,
    group_attendees,
    community_work,
    service_opening_hours,
);
