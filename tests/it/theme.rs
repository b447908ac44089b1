//! The theme: every template renders in both languages (strict mode: a variable or a string
//! key the template uses and nobody provides fails), and every string key the code asks for
//! exists in both languages (that both languages have the same keys is `config_defaults`').

use std::collections::BTreeSet;

use serde_json::{Value, json};
use xacthuc::authenticators::Method;
use xacthuc::config::ThemeConfig;
use xacthuc::http::render::{LOCALES, Theme};

fn theme() -> Theme {
    let cfg = ThemeConfig {
        dir: concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default").into(),
        ..ThemeConfig::default()
    };
    Theme::load(&cfg).expect("the default theme loads")
}

/// Each template with the variables its pages give it: every optional one present (so every
/// branch renders), then only the required ones.
fn samples() -> Vec<(&'static str, Value, Value)> {
    let captcha = json!({
        "captcha_id": "c", "captcha_image": "/captcha/c/image.png",
        "captcha_audio": "/captcha/c/audio.wav", "captcha_refresh": "/register/mobile",
    });
    let with = |base: &Value, extra: Value| {
        let mut v = base.clone();
        if let (Some(a), Value::Object(b)) = (v.as_object_mut(), extra) {
            a.extend(b);
        }
        v
    };
    let account = json!({
        "full_name": "Nguyễn Văn An", "id_number": "001090012345", "birthdate": "12/06/1990",
        "email": "an@example.vn", "email_verified": true, "ial": "IAL2",
        "registration_method": "Thuê bao di động",
    });
    let profile_min = json!({
        "account": account, "phones": [], "sessions": [], "credentials": [],
        "reauthenticated": false, "reauth_url": "/profile/reauth?next=profile",
        "errors": {}, "values": {},
    });
    let profile_full = json!({
        "account": account,
        "reauthenticated": true, "reauth_url": "/profile/reauth?next=profile",
        "phones": [{ "id": "p1", "number": "0823628899", "verified": true, "is_default": true, "removable": true },
                   { "id": "p2", "number": "0912345678", "verified": true, "is_default": false, "removable": true }],
        "sessions": [{ "id": "s1", "started": "05/12/2026 15:33", "current": true },
                     { "id": "s2", "started": "04/12/2026 08:00", "current": false }],
        "credentials": [{
            "method": "passkey", "heading": "Passkey", "explain": "…", "add_label": "Thêm",
            "empty": "Chưa có", "action": "/profile/credentials/passkey",
            "items": [{ "id": "k1", "label": "Điện thoại", "created": "05/12/2026 15:33", "last_used": "" },
                      { "id": "k2", "label": "Khóa", "created": "05/12/2026 15:33", "last_used": "05/12/2026 16:00" }],
        }],
        "errors": { "phone": "x", "email": "x" }, "values": { "phone": "09", "email": "a@b.vn", "label": "k" },
        "notice": "ok", "error": "x", "credential_error": "x", "upgrade_url": "/upgrade",
    });
    let register_form = with(
        &captcha,
        json!({
            "is_bhxh": true, "action": "/register/bhxh", "ar": "", "values": {}, "errors": {},
        }),
    );
    let register_form_full = with(
        &register_form,
        json!({
            "values": { "id_number": "001090012345", "full_name": "An", "birthdate": "12/06/1990",
                        "phone": "0823628899", "email": "a@b.vn", "bhxh_code": "0123456789" },
            "errors": { "id_number": "x", "full_name": "x", "birthdate": "x", "phone": "x",
                        "email": "x", "bhxh_code": "x", "captcha": "x" },
            "error": "x", "duplicate": true,
        }),
    );
    let forgot = with(
        &captcha,
        json!({ "action": "/forgot-password", "values": {}, "errors": {} }),
    );
    let forgot_full = with(
        &forgot,
        json!({
            "values": { "id_number": "1", "phone": "2" },
            "errors": { "id_number": "x", "phone": "x", "captcha": "x" }, "error": "x",
        }),
    );
    let otp = json!({
        "action": "/login/otp", "resend_action": "/login/otp/resend", "masked_phone": "082****899",
        "resend_in": 0, "resend_wait": false, "errors": {},
    });
    let otp_full = with(
        &otp,
        json!({
            "resend_in": 42, "resend_wait": true, "errors": { "otp": "x" }, "error": "x",
            "notice": "x", "other_methods": "/login/otp/phones", "submit_label": "OK",
        }),
    );
    let login = json!({ "ar": "", "username": "", "password": true, "from_typed_id": [], "tabs": [], "methods": [] });
    let login_full = with(
        &captcha,
        json!({
            "ar": "a", "username": "001090012345", "password": true,
            "from_typed_id": [{ "name": "passkey", "label": "Passkey" }],
            "tabs": [{ "name": "usb_token", "label": "USB ký số", "url": "/login/usb_token?ar=a" }],
            "methods": [{ "name": "passkey", "label": "Passkey", "url": "/login/passkey?ar=a" }],
            "error": "x", "reason": "x", "client_name": "Cổng", "no_method": true,
        }),
    );
    let ceremony = json!({ "action": "/login/passkey", "ar": "", "options": "{}", "login_url": "/login", "expires_in": 300 });
    let push_form = |field: &str| json!({ "action": "/login/m", "ar": "", "login_url": "/login", "values": { "step": "s", field: "" } });
    let pending = json!({ "action": "/login/m", "ar": "a", "login_url": "/login", "display_code": "1234", "expires_in": 120, "poll_url": "/login/m/poll", "poll_every_ms": 2000 });
    let usb = json!({ "action": "/login/usb_token", "ar": "", "options": "{}", "login_url": "/login", "expires_in": 120 });
    let enrol = json!({ "action": "/profile/credentials/passkey/finish", "options": "{}", "label": "k", "back": "/profile" });
    let new_password = json!({ "action": "/register/password", "heading": "h", "submit_label": "s", "rule": "r", "errors": {} });
    let reauth =
        json!({ "action": "/profile/reauth", "sms": false, "back": "/profile", "errors": {} });
    let verify_email = json!({ "action": "/profile/email/verify", "email": "an@example.vn", "errors": {}, "back": "/profile" });
    vec![
        ("layout", json!({}), json!({})),
        (
            "home",
            json!({ "account_name": "An", "admin_url": "/admin", "counter_url": "/counter" }),
            json!({}),
        ),
        ("login", login_full, login),
        (
            "login_passkey",
            with(&ceremony, json!({ "error": "x" })),
            ceremony,
        ),
        ("enroll_passkey", enrol.clone(), enrol),
        ("login_usb_token", with(&usb, json!({ "error": "x" })), usb),
        (
            "login_sim_signature",
            with(&pending, json!({ "error": "x" })),
            push_form("phone"),
        ),
        (
            "login_remote_signature",
            with(&pending, json!({ "error": "x" })),
            push_form("user_id"),
        ),
        ("push_pending", pending.clone(), pending),
        (
            "consent",
            json!({ "client_name": "C", "scopes": [{ "name": "profile", "description": "d" }], "ar": "a" }),
            json!({ "client_name": "C", "scopes": [], "ar": "a" }),
        ),
        (
            "error",
            json!({ "title": "t", "message": "m", "code": "invalid_request" }),
            json!({ "title": "t", "message": "m" }),
        ),
        (
            "logout_confirm",
            json!({ "hidden": [{ "name": "n", "value": "v" }], "client_name": "C" }),
            json!({ "hidden": [] }),
        ),
        ("logged_out", json!({}), json!({})),
        (
            "federation_link",
            json!({ "action": "/login/link", "upstream": "VNeID", "id_number": "079******821",
                    "login_url": "/login", "error": "x", "captcha_id": "c", "captcha_image": "/i",
                    "captcha_audio": "/a", "captcha_refresh": "/login/link" }),
            json!({ "action": "/login/link", "upstream": "VNeID", "id_number": "079******821",
                    "login_url": "/login" }),
        ),
        (
            "form_post",
            json!({ "action": "https://rp/cb", "params": [{ "name": "code", "value": "x" }], "nonce": "n" }),
            json!({ "action": "https://rp/cb", "params": [], "nonce": "n" }),
        ),
        (
            "register",
            json!({ "ar": "a", "methods": { "mobile_subscriber": true, "bhxh": true },
                    "subjects": [{ "label": "Công dân", "url": "/register?subject=citizen", "active": true },
                                 { "label": "Doanh nghiệp", "url": "/register?subject=enterprise", "active": false }],
                    "is_citizen": true, "is_agency": true,
                    "ial3": [{ "name": "sim_signature", "label": "SIM ký số", "who": "(Công dân)", "url": "/register/citizen/sim_signature" }] }),
            json!({ "methods": { "mobile_subscriber": false, "bhxh": false }, "subjects": [],
                    "is_citizen": false, "is_agency": false, "ial3": [] }),
        ),
        (
            "duplicate_ways_out",
            json!({ "complaint_id_number": "001090012345" }),
            json!({}),
        ),
        (
            "register_signature",
            json!({ "action": "/register/confirm", "values": { "email": "a@b.vn" }, "errors": { "email": "x" }, "error": "x",
                    "identity": { "full_name": "Công ty", "id_number": "001090012345", "tax_code": "0100233488",
                                  "organization": "Bộ Tư pháp", "issuer": "CN=CA", "valid_until": "01/01/2030 07:00",
                                  "subject": "enterprise", "is_enterprise": true } }),
            json!({ "action": "/register/confirm", "values": {}, "errors": {},
                    "identity": { "full_name": "An", "subject": "citizen", "is_enterprise": false } }),
        ),
        (
            "register_refused",
            json!({ "error": "x", "duplicate": true, "back_url": "/register" }),
            json!({ "error": "x", "duplicate": false, "back_url": "/register" }),
        ),
        (
            "upgrade",
            json!({ "methods": [{ "name": "sim_signature", "label": "SIM", "url": "/upgrade/sim_signature?ar=a" }],
                    "ar": "a", "decline_action": "/upgrade/decline", "profile_url": "/profile",
                    "client_name": "Cổng", "essential": true }),
            json!({ "methods": [], "ar": "", "decline_action": "/upgrade/decline", "profile_url": "/profile" }),
        ),
        (
            "staff_login",
            json!({ "methods": [{ "name": "passkey", "label": "Passkey", "url": "/login" }],
                    "weak_login": true }),
            json!({ "methods": [], "weak_login": false }),
        ),
        (
            "upgrade_refused",
            json!({ "error": "x", "back_url": "/upgrade" }),
            json!({ "error": "x", "back_url": "/upgrade" }),
        ),
        ("register_form", register_form_full, register_form),
        ("otp", otp_full, otp),
        (
            "otp_phones",
            json!({ "action": "/login/otp/phones", "phones": [{ "id": "p", "masked": "082****899", "is_default": true }], "back": "/login/otp", "error": "x" }),
            json!({ "action": "/login/otp/phones", "phones": [], "back": "/login/otp" }),
        ),
        (
            "new_password",
            with(
                &new_password,
                json!({ "errors": { "password": "x", "password_confirm": "x" }, "error": "x" }),
            ),
            new_password,
        ),
        ("forgot_password", forgot_full, forgot),
        (
            "message",
            json!({ "heading": "h", "message": "m", "link_url": "/", "link_label": "l", "secondary_url": "/", "secondary_label": "s" }),
            json!({ "heading": "h", "message": "m" }),
        ),
        ("profile", profile_full, profile_min),
        (
            "reauth",
            with(
                &reauth,
                json!({ "sms": true, "error": "x",
                        "passkey": { "action": "/profile/reauth/passkey", "options": "{}" } }),
            ),
            reauth,
        ),
        (
            "verify_email",
            with(&verify_email, json!({ "errors": { "otp": "x" } })),
            verify_email,
        ),
        (
            "change_password",
            json!({ "rule": "r", "errors": { "current_password": "x", "password": "x", "password_confirm": "x" }, "error": "x" }),
            json!({ "rule": "r", "errors": {} }),
        ),
        (
            "demo_portal",
            json!({ "logged_in": true, "error": "x", "claims": [{ "name": "sub", "value": "1" }], "userinfo": [{ "name": "n", "value": "v" }] }),
            json!({ "logged_in": false }),
        ),
        (
            "staff_login",
            json!({ "methods": [{ "name": "passkey", "label": "Passkey", "url": "/login" }], "weak_login": true }),
            json!({ "methods": [], "weak_login": false }),
        ),
        (
            "counter",
            json!({ "officer_name": "Nguyễn Văn An", "office": "Bưu điện Hà Đông" }),
            json!({ "officer_name": "Nguyễn Văn An", "office": "" }),
        ),
        (
            "counter_officer",
            json!({ "officer_name": "Nguyễn Văn An", "office": "Bưu điện Hà Đông" }),
            json!({ "officer_name": "Nguyễn Văn An", "office": "" }),
        ),
        (
            "counter_register",
            json!({
                "officer_name": "A", "office": "B", "action": "/counter/register",
                "duplicate": true, "reset_url": "/counter/reset", "error": "x",
                "values": { "documents_checked": true, "id_number": "1", "full_name": "n", "birthdate": "d", "phone": "p", "email": "e" },
                "errors": { "documents_checked": "x", "id_number": "x", "full_name": "x", "birthdate": "x", "phone": "x", "email": "x" },
            }),
            json!({ "officer_name": "A", "office": "B", "action": "/counter/register", "values": {}, "errors": {} }),
        ),
        (
            "counter_reset",
            json!({
                "officer_name": "A", "office": "B", "action": "/counter/reset", "send_action": "/counter/reset/send",
                "error": "x", "values": { "id_number": "1" }, "errors": { "phone_id": "x", "documents_checked": "x" },
                "account": { "id": "a", "full_name": "n", "birthdate": "12/06/1990", "id_number": "1" },
                "phones": [{ "id": "p", "masked": "082****899", "is_default": true }], "locked": false,
            }),
            json!({ "officer_name": "A", "office": "B", "action": "/counter/reset", "send_action": "/counter/reset/send", "values": {}, "errors": {} }),
        ),
        (
            "counter_sent",
            json!({ "officer_name": "A", "office": "B", "heading": "h", "explain": "e", "full_name": "n" }),
            json!({ "officer_name": "A", "office": "B", "heading": "h", "explain": "e" }),
        ),
        (
            "counter_link",
            json!({ "heading": "h", "explain": "e", "full_name": "n", "action": "/counter/complete/t", "error": "x" }),
            json!({ "heading": "h", "explain": "e", "action": "/counter/complete/t" }),
        ),
        ("not_found", json!({}), json!({})),
        (
            "admin_home",
            json!({ "admin_name": "A", "roles": ["Quản trị viên", "x"], "sections": [{ "url": "/admin/clients", "title": "t" }] }),
            json!({ "admin_name": "A", "roles": [], "sections": [] }),
        ),
        (
            "staff_login",
            json!({ "methods": [{ "name": "passkey", "label": "Passkey", "url": "/login" }], "weak_login": true }),
            json!({ "methods": [], "weak_login": false }),
        ),
        (
            "complaint_form",
            with(
                &captcha,
                json!({ "action": "/complaint", "description_max": 2000, "error": "x",
                        "values": { "id_number": "001090012345", "full_name": "B", "phone": "0823456088",
                                    "email": "b@c.vn", "description": "d" },
                        "errors": { "id_number": "x", "full_name": "x", "phone": "x", "email": "x",
                                    "description": "x", "captcha": "x" } }),
            ),
            with(
                &captcha,
                json!({ "action": "/complaint", "description_max": 2000, "values": {}, "errors": {} }),
            ),
        ),
        (
            "complaint_filed",
            json!({ "ticket": "KN-7QK2M9PX", "masked_phone": "082****088" }),
            json!({ "ticket": "KN-7QK2M9PX", "masked_phone": "082****088" }),
        ),
        (
            "complaint_queue",
            json!({ "complaints": [{ "ticket": "KN-7QK2M9PX", "url": "/counter/complaints/KN-7QK2M9PX",
                                     "filed": "05/12/2026 15:33", "id_number": "001090012345",
                                     "complainant": "B", "status": "Mới" }] }),
            json!({ "complaints": [] }),
        ),
        (
            "complaint_detail",
            json!({
                "complaint": { "ticket": "KN-7QK2M9PX", "filed": "05/12/2026 15:33", "updated": "05/12/2026 15:33",
                               "id_number": "001090012345", "complainant": "B", "contact_phone": "0823456088",
                               "contact_email": "b@c.vn", "description": "d", "status": "open",
                               "status_label": "Mới", "office": "Bưu điện" },
                "queue_url": "/counter/complaints", "finished": false, "notice": "n", "error": "e",
                "lock_action": "/l", "reject_action": "/r", "transfer_action": "/t",
                "values": { "full_name": "B", "phone": "0823456088", "birthdate": "12/06/1990", "checked": true },
                "errors": { "checked": "x", "full_name": "x", "birthdate": "x", "phone": "x" },
                "account": { "full_name": "A", "birthdate": "12/06/1990", "registration_method": "test",
                             "created": "05/12/2026 15:33", "status": "locked", "phones": ["082****899"] },
            }),
            json!({
                "complaint": { "ticket": "KN-7QK2M9PX", "filed": "05/12/2026 15:33", "updated": "05/12/2026 15:33",
                               "id_number": "001090012345", "complainant": "B", "contact_phone": "0823456088",
                               "contact_email": "", "description": "d", "status": "resolved",
                               "status_label": "Xong", "office": "" },
                "queue_url": "/counter/complaints", "finished": true,
                "values": { "full_name": "B", "phone": "0823456088", "birthdate": "" }, "errors": {},
            }),
        ),
        // --- Admin area: accounts ---
        (
            "admin_accounts",
            json!({ "action": "/admin/accounts", "error": "x", "searched": true,
                    "values": { "id_number": "001090012345", "tax_code": "", "phone": "" },
                    "errors": { "id_number": "x", "tax_code": "x", "phone": "x" },
                    "results": [{ "url": "/admin/accounts/a", "id": "a", "full_name": "A",
                                  "subject_type": "Công dân", "ial": 2, "status": "locked",
                                  "status_label": "Đã khóa", "locked": true }] }),
            json!({ "action": "/admin/accounts", "searched": false, "results": [],
                    "values": { "id_number": "", "tax_code": "", "phone": "" }, "errors": {} }),
        ),
        (
            "admin_account",
            json!({
                "back_url": "/admin/accounts", "notice": "n", "error": "e",
                "account": { "id": "a", "full_name": "A", "subject_type": "Công dân", "birthdate": "12/06/1990",
                             "id_number": "001090012345", "tax_code": "0100233488", "official_id": "001090012345",
                             "organization": "O", "status": "locked", "status_label": "Đã khóa", "locked": true,
                             "ial": 2, "registration_method": "counter", "created": "05/12/2026 15:33",
                             "email": "a@b.vn", "email_verified": true, "held_by_complaint": "KN-7QK2M9PX" },
                "complaint_url": "/counter/complaints/KN-7QK2M9PX",
                "levels": [{ "level": 2, "method": "counter", "at": "05/12/2026 15:33" }],
                "phones": [{ "number": "0823628899", "e164": "+84823628899", "verified": true, "is_default": true, "added": "05/12/2026 15:33" },
                           { "number": "0912345678", "e164": "+84912345678", "verified": false, "is_default": false, "added": "05/12/2026 15:33" }],
                "credentials": [{ "kind": "passkey", "label": "K", "created": "05/12/2026 15:33", "last_used": "05/12/2026 16:00" }],
                "sessions": [{ "sid": "s", "started": "05/12/2026 15:33", "expires": "06/12/2026 15:33", "amr": "pwd otp", "ial": 2, "clients": "portal" }],
                "roles": [{ "role": "Quản trị viên", "office": "O", "granted": "05/12/2026 15:33" }],
                "may_write": true, "lock_action": "/l", "unlock_action": "/u", "revoke_action": "/r",
                "reason_max": 500, "errors": { "reason": "x", "confirm": "x" }, "values": { "reason": "r" },
            }),
            json!({
                "back_url": "/admin/accounts",
                "account": { "id": "a", "full_name": "A", "subject_type": "Công dân", "birthdate": null,
                             "id_number": null, "tax_code": null, "official_id": null, "organization": null,
                             "status": "active", "status_label": "x", "locked": false, "ial": 2,
                             "registration_method": "cli", "created": null, "email": null,
                             "email_verified": false, "held_by_complaint": null },
                "complaint_url": null, "levels": [], "phones": [], "credentials": [], "sessions": [], "roles": [],
                "may_write": false, "lock_action": null, "unlock_action": null, "revoke_action": null,
                "reason_max": 500, "errors": {}, "values": {},
            }),
        ),
        (
            "admin_audit",
            json!({ "action": "/admin/audit", "error": "x", "csv_url": "/admin/audit.csv", "next_url": "/admin/audit?cursor=3",
                    "values": { "actor": "a", "actor_id_number": "", "account": "", "kind": "admin.", "from": "", "to": "", "limit": "", "cursor": "" },
                    "errors": { "actor": "x", "actor_id_number": "x", "account": "x", "kind": "x", "from": "x", "to": "x" },
                    "events": [{ "id": 4, "at": "05/12/2026 15:33", "kind": "admin.account.locked", "account_id": "a",
                                 "actor_id": "client:ops", "client_id": "c", "ip": "127.0.0.1", "detail": "{}" }] }),
            json!({ "action": "/admin/audit", "events": [], "errors": {},
                    "values": { "actor": "", "actor_id_number": "", "account": "", "kind": "", "from": "", "to": "", "limit": "", "cursor": "" } }),
        ),
        (
            "admin_roles",
            json!({ "notice": "n", "error": "e", "may_write": true, "grant_action": "/g", "revoke_action": "/r",
                    "office_max": 200, "values": { "id_number": "1", "role": "admin", "office": "o" },
                    "errors": { "id_number": "x", "role": "x", "office": "x" },
                    "role_options": [{ "value": "admin", "label": "Quản trị viên" }],
                    "groups": [{ "role": "admin", "title": "Quản trị viên",
                                 "holders": [{ "account_id": "a", "full_name": "A", "id_number": "001090012345",
                                               "office": "O", "granted_by": "b", "granted_by_url": "/admin/accounts/b", "granted": "05/12/2026 15:33",
                                               "account_url": "/admin/accounts/a" }] },
                               { "role": "auditor", "title": "Kiểm toán viên", "holders": [] }] }),
            json!({ "may_write": false, "grant_action": "/g", "revoke_action": "/r", "office_max": 200,
                    "values": {}, "errors": {}, "role_options": [], "groups": [] }),
        ),
        (
            "admin_complaints",
            json!({ "complaints": [{ "ticket": "KN-7QK2M9PX", "status": "open", "status_label": "Mới",
                                     "filed": "05/12/2026 15:33", "id_number": "001090012345", "complainant": "B",
                                     "contact_phone": "0823456088", "contact_email": "b@c.vn",
                                     "counter_url": "/counter/complaints/KN-7QK2M9PX" }] }),
            json!({ "complaints": [] }),
        ),
        // --- Admin area: trust ---
        (
            "admin_trust_anchors",
            json!({
                "home_url": "/admin", "can_write": true, "upload_action": "/admin/trust-anchors",
                "notice": "n", "error": "e",
                "sets": [{ "id": "public", "title": "Bộ công cộng", "anchors": [
                    { "id": "a1", "subject": "CN=X", "sha256": "AB:CD", "not_after": "05/12/2030 15:33",
                      "source": "Tải lên", "added_by": "client:ops", "added_at": "05/12/2026 15:33",
                      "retired_at": "06/12/2026 15:33", "retire_action": "/admin/trust-anchors/a1/retire" },
                    { "id": null, "subject": "CN=Y", "sha256": "EF", "not_after": "05/12/2030 15:33",
                      "source": "Sandbox", "added_by": null, "added_at": null, "retired_at": null,
                      "retire_action": null }] },
                    { "id": "government", "title": "Bộ Chính phủ", "anchors": [] }],
                "set_options": [{ "value": "public", "label": "Bộ công cộng", "selected": true }],
                "values": { "trust_set": "public", "pem": "-----BEGIN CERTIFICATE-----" },
                "errors": { "trust_set": "x", "pem": "x" },
            }),
            json!({ "home_url": "/admin", "can_write": false, "upload_action": "/admin/trust-anchors",
                    "sets": [], "set_options": [], "values": null, "errors": null }),
        ),
        (
            "admin_keys",
            json!({
                "home_url": "/admin", "can_write": true, "rotate_action": "/admin/keys/rotate",
                "default_delay": 86400, "notice": "n", "error": "e",
                "keys": [{ "kid": "rs256-1", "alg": "RS256", "state": "pending", "state_label": "Chờ",
                           "bad": false, "created_at": "05/12/2026 15:33", "activates_at": "06/12/2026 15:33",
                           "retired_at": "07/12/2026 15:33", "retire_action": "/admin/keys/rs256-1/retire" }],
                "values": { "delay_seconds": "60" }, "errors": { "delay_seconds": "x", "confirm": "x" },
            }),
            json!({ "home_url": "/admin", "can_write": false, "rotate_action": "/admin/keys/rotate",
                    "default_delay": 86400, "keys": [], "values": null, "errors": null }),
        ),
        // --- Admin area: clients ---
        (
            "admin_clients",
            json!({
                "clients": [{ "url": "/admin/clients/c1", "client_id": "c1", "name": "Cổng", "kind": "k",
                              "auth_method": "client_secret_basic", "disabled": true, "status": "s" }],
                "can_write": true, "new_url": "/admin/clients/new", "notice": "n",
            }),
            json!({ "clients": [], "can_write": false, "new_url": "/admin/clients/new", "notice": null }),
        ),
        (
            "admin_client",
            {
                let option =
                    json!([{ "value": "a", "selected": true }, { "value": "", "selected": false }]);
                let check = json!([{ "value": "openid", "checked": true }]);
                json!({
                    "client": { "client_id": "c1", "name": "Cổng", "kind": "k", "auth_method": "m",
                                "disabled": true, "status": "s", "version": 3,
                                "redirect_uris": ["https://a.vn/cb"], "has_secret": true,
                                "previous_secret_expires_at": "2026-12-06T00:00:00+00:00",
                                "updated_at": "2026-12-05T00:00:00+00:00" },
                    "is_new": false, "can_write": true,
                    "form": { "client_id": "c1", "name": "Cổng", "redirect_uris": "https://a.vn/cb",
                              "post_logout_redirect_uris": "", "backchannel_logout_uri": "",
                              "auth_methods": option, "grant_types": check, "scopes": check,
                              "jwks": "", "jwks_uri": "", "min_acrs": option, "subject_types": option,
                              "sector_identifier_uri": "", "id_token_algs": option, "theme": "",
                              "skip_consent": true, "require_phishing_resistant": true,
                              "omit_iss_in_errors": true, "version": "3" },
                    "errors": { "client_id": "x", "name": "x", "token_endpoint_auth_method": "x",
                                "redirect_uris": "x", "post_logout_redirect_uris": "x",
                                "backchannel_logout_uri": "x", "grant_types": "x", "allowed_scopes": "x",
                                "jwks": "x", "jwks_uri": "x", "min_acr": "x", "subject_type": "x",
                                "sector_identifier_uri": "x", "id_token_alg": "x", "theme": "x" },
                    "error": "e", "notice": "n", "secret": "s3cr3t", "list_url": "/admin/clients",
                    "action": "/admin/clients/c1", "disable_url": "/admin/clients/c1/disable",
                    "enable_url": "/admin/clients/c1/enable", "delete_url": "/admin/clients/c1/delete",
                    "rotate_url": "/admin/clients/c1/rotate",
                })
            },
            json!({
                "client": null, "is_new": true, "can_write": false,
                "form": { "client_id": "", "name": "", "redirect_uris": "", "post_logout_redirect_uris": "",
                          "backchannel_logout_uri": "", "auth_methods": [], "grant_types": [], "scopes": [],
                          "jwks": "", "jwks_uri": "", "min_acrs": [], "subject_types": [],
                          "sector_identifier_uri": "", "id_token_algs": [], "theme": "",
                          "skip_consent": false, "require_phishing_resistant": false,
                          "omit_iss_in_errors": false, "version": "" },
                "errors": {}, "error": null, "notice": null, "secret": null, "list_url": "/admin/clients",
                "action": "/admin/clients/new", "disable_url": null, "enable_url": null,
                "delete_url": null, "rotate_url": null,
            }),
        ),
        (
            "admin_client_confirm",
            json!({
                "client": { "client_id": "c1", "name": "Cổng", "version": 2 },
                "action": "/admin/clients/c1/rotate", "back_url": "/admin/clients/c1", "kind": "rotate",
                "question": "q", "submit": "s", "rotate": true, "overlap_seconds": "86400",
                "errors": { "confirm": "x", "overlap_seconds": "x" },
            }),
            json!({
                "client": { "client_id": "c1", "name": "Cổng", "version": 2 },
                "action": "/admin/clients/c1/delete", "back_url": "/admin/clients/c1", "kind": "delete",
                "question": "q", "submit": "s", "rotate": false, "overlap_seconds": "", "errors": {},
            }),
        ),
    ]
}

#[test]
fn every_template_renders_in_both_languages() {
    let theme = theme();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default/templates");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".hbs").map(str::to_string)
        })
        .collect();
    let samples = samples();
    let sampled: BTreeSet<String> = samples.iter().map(|(n, _, _)| n.to_string()).collect();
    assert_eq!(sampled, on_disk, "every template has a sample here");
    for locale in LOCALES {
        for (name, full, minimal) in &samples {
            for vars in [full, minimal] {
                let mut ctx = json!({
                    "t": theme.strings(locale), "lang": locale, "lang_switch_url": "/?lang=en",
                    "page_title": "T", "sandbox": true, "csrf": "c",
                });
                if let (Some(a), Value::Object(b)) = (ctx.as_object_mut(), vars.clone()) {
                    a.extend(b);
                }
                // The layout is a partial: render it through a page.
                let rendered = if *name == "layout" {
                    theme.render("not_found", &ctx)
                } else {
                    theme.render(name, &ctx)
                };
                if let Err(e) = rendered {
                    panic!("{name} in {locale} with {vars}: {e}");
                }
            }
        }
    }
}

/// String keys the Rust code names: in `Message::new`, `t(…)`, error pages, notices and the
/// like, plus the ones it builds from method names and scopes.
fn keys_used_by_the_code() -> BTreeSet<String> {
    let patterns = [
        r#"Message::new\(\s*"([a-z0-9_]+)""#,
        r#"\.t\(\s*&?app,\s*"([a-z0-9_]+)""#,
        r#"Refusal::invalid\(\s*"([a-z0-9_]+)""#,
        r#"refuse\(\s*RefusalKind::\w+,\s*"([a-z0-9_]+)""#,
        r#"back\(\s*&app,\s*"([a-z0-9_]+)""#,
        r#"\.t\(\s*locale,\s*"([a-z0-9_]+)""#,
        r#"\?notice=([a-z0-9_]+)""#,
        r#""((?:title|error|err|heading|submit|login_reason|password_rule|method|register_done|reset_done|register_continue)_[a-z0-9_]+)""#,
    ];
    let patterns: Vec<regex::Regex> = patterns
        .iter()
        .map(|p| regex::Regex::new(p).unwrap())
        .collect();
    let mut keys = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .filter_map(|e| Some(e.ok()?.path())),
            );
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            // Code only: the tests' own strings are not shown to anyone.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for p in &patterns {
                for c in p.captures_iter(code) {
                    keys.insert(c[1].to_string());
                }
            }
        }
    }
    for m in Method::ALL {
        let t = m.traits();
        if t.identifies && m != Method::Password {
            keys.insert(format!("login_with_{}", m.name()));
            keys.insert(format!("title_login_{}", m.name()));
        }
        if t.from_typed_id {
            keys.insert(format!("login_{}_for_id", m.name()));
        }
        if !m.registers().is_empty() {
            keys.insert(format!("register_method_{}", m.name()));
            keys.insert(format!("register_who_{}", m.name()));
        }
        if t.enrols.is_some() {
            for part in ["heading", "explain", "add", "empty"] {
                keys.insert(format!("credential_{}_{part}", m.name()));
            }
            keys.insert(format!("title_enroll_{}", m.name()));
        }
    }
    for status in xacthuc::domain::ComplaintStatus::ALL {
        keys.insert(format!("complaint_status_{}", status.as_str()));
    }
    for action in xacthuc::domain::ComplaintAction::ALL {
        keys.insert(format!("complaint_done_{}", action.name()));
    }
    // The admin area's accounts section builds these from stored values.
    for status in ["active", "locked", "disabled"] {
        keys.insert(format!("admin_accounts_status_{status}"));
    }
    for subject in ["citizen", "enterprise", "agency"] {
        keys.insert(format!("admin_accounts_subject_{subject}"));
    }
    for done in ["locked", "unlocked", "sessions_revoked"] {
        keys.insert(format!("admin_accounts_done_{done}"));
    }
    for done in ["granted", "revoked"] {
        keys.insert(format!("admin_accounts_roles_done_{done}"));
    }
    for sms in ["filed", "locked", "rejected", "transferred", "resolved"] {
        keys.insert(format!("sms_complaint_{sms}"));
    }
    for notice in xacthuc::flow::notify::Notice::ALL {
        keys.insert(notice.key().to_string());
    }
    for subject in ["citizen", "enterprise", "agency"] {
        keys.insert(format!("register_subject_{subject}"));
    }
    for page_key in [
        "upgrade_heading",
        "upgrade_not_needed",
        "upgrade_back_to_profile",
    ] {
        keys.insert(page_key.to_string());
    }
    for (scope, _) in xacthuc::oidc::claims::SCOPES {
        keys.insert(format!("consent_scope_{scope}"));
    }
    // Look like keys, are not: an OAuth parameter, a template variable, an audit reason.
    for not_a_key in ["error_description", "submit_label", "method_not_offered"] {
        keys.remove(not_a_key);
    }
    keys
}

#[test]
fn every_string_the_code_uses_exists_in_both_languages() {
    let theme = theme();
    let keys = keys_used_by_the_code();
    assert!(
        keys.len() > 80,
        "the scan finds the code's keys ({})",
        keys.len()
    );
    for locale in LOCALES {
        let strings = theme.strings(locale);
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| strings.get(k.as_str()).is_none())
            .collect();
        assert!(missing.is_empty(), "missing in {locale}: {missing:?}");
    }
}

/// SMS texts (codes and security notices) go out as one GSM-7 message: in Vietnamese they are
/// written without diacritics, like the national portal's.
#[test]
fn sms_texts_are_plain_gsm_7() {
    let theme = theme();
    for locale in LOCALES {
        let strings = theme.strings(locale);
        let texts: Vec<(&String, &str)> = strings
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("sms_"))
            .map(|(k, v)| (k, v.as_str().unwrap()))
            .collect();
        assert!(texts.len() >= 6, "{locale}: {texts:?}");
        for (key, text) in texts {
            let filled = text
                .replace("{code}", "123456")
                .replace("{minutes}", "5")
                .replace("{phone}", "082****088")
                .replace("{link}", "https://id.example.vn/counter/complete/0123456789abcdefghijABCDEFGHIJ-_0123456789a")
                .replace("{ticket}", "KN-7QK2M9PX");
            assert!(
                filled
                    .chars()
                    // `_` is in GSM-7's basic set too (0x11): counter links carry base64url tokens.
                    .all(|c| c.is_ascii_alphanumeric() || " .,:;!?'()*+-/@%#&=\"_".contains(c)),
                "{locale}.{key} has a character outside GSM-7's basic set: {filled}"
            );
            assert!(
                filled.chars().count() <= 160,
                "{locale}.{key} is longer than one SMS: {}",
                filled.chars().count()
            );
        }
    }
}
