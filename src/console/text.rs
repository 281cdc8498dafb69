//! What the console says, in Bahasa Indonesia (the office's language, and the default) and in
//! English (when the browser puts English before Indonesian in `Accept-Language`). One struct
//! of texts: a template that names a text the struct lacks does not compile.

use axum::http::{HeaderMap, header};

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Bahasa Indonesia.
    Id,
    /// English.
    En,
}

impl Lang {
    /// The browser's first choice among the two; Indonesian when it names neither.
    pub fn of(headers: &HeaderMap) -> Self {
        let Some(accept) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Self::Id;
        };
        let mut best: Option<(f32, Self)> = None;
        for item in accept.split(',').take(20) {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "id" || tag.starts_with("id-") {
                Self::Id
            } else if tag == "en" || tag.starts_with("en-") {
                Self::En
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Self::Id, |(_, l)| l)
    }

    /// The `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::En => "en",
        }
    }

    /// The texts.
    pub(crate) fn text(self) -> &'static Text {
        match self {
            Self::Id => &ID,
            Self::En => &EN,
        }
    }
}

/// Every text of the console.
#[derive(Debug)]
pub(crate) struct Text {
    pub(crate) skip: &'static str,
    pub(crate) sign_in_title: &'static str,
    pub(crate) sign_in_intro: &'static str,
    pub(crate) user_name: &'static str,
    pub(crate) password: &'static str,
    pub(crate) sign_in: &'static str,
    pub(crate) sign_in_sso: &'static str,
    pub(crate) or: &'static str,
    pub(crate) no_sign_in: &'static str,
    pub(crate) sign_out: &'static str,
    pub(crate) signed_in_as: &'static str,
    pub(crate) inbox: &'static str,
    pub(crate) inbox_intro: &'static str,
    pub(crate) inbox_empty: &'static str,
    pub(crate) request: &'static str,
    pub(crate) name: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) kind_create: &'static str,
    pub(crate) kind_change: &'static str,
    pub(crate) kind_delete: &'static str,
    pub(crate) agency: &'static str,
    pub(crate) step: &'static str,
    pub(crate) status: &'static str,
    pub(crate) due: &'static str,
    pub(crate) overdue: &'static str,
    pub(crate) records: &'static str,
    pub(crate) record_type: &'static str,
    pub(crate) write_title: &'static str,
    pub(crate) download_register: &'static str,
    pub(crate) warnings: &'static str,
    pub(crate) write_note: &'static str,
    pub(crate) write_remove: &'static str,
    pub(crate) write_add: &'static str,
    pub(crate) write_action: &'static str,
    pub(crate) value: &'static str,
    pub(crate) attachments: &'static str,
    pub(crate) no_attachments: &'static str,
    pub(crate) history: &'static str,
    pub(crate) when: &'static str,
    pub(crate) who: &'static str,
    pub(crate) action: &'static str,
    pub(crate) certificate: &'static str,
    pub(crate) purpose: &'static str,
    pub(crate) contact: &'static str,
    pub(crate) decision: &'static str,
    pub(crate) decision_intro: &'static str,
    pub(crate) approve: &'static str,
    pub(crate) return_: &'static str,
    pub(crate) reject: &'static str,
    pub(crate) note: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) reason_hint: &'static str,
    pub(crate) saved: &'static str,
    pub(crate) error_title: &'static str,
    pub(crate) back: &'static str,
    pub(crate) in_review: &'static str,
    pub(crate) returned: &'static str,
    pub(crate) completed: &'static str,
    pub(crate) rejected: &'static str,
    pub(crate) withdrawn: &'static str,
    pub(crate) wrong_password: &'static str,
    pub(crate) locked: &'static str,
    pub(crate) too_many: &'static str,
    pub(crate) sso_refused: &'static str,
    pub(crate) sso_unavailable: &'static str,
    pub(crate) sso_replayed: &'static str,
    pub(crate) sso_unknown: &'static str,
    pub(crate) disabled: &'static str,
    pub(crate) unmapped: &'static str,
    pub(crate) form_expired: &'static str,
    pub(crate) unavailable: &'static str,
    pub(crate) internal: &'static str,
    pub(crate) not_found: &'static str,
    pub(crate) confirm_reject: &'static str,
    pub(crate) confirm_withdraw: &'static str,
    pub(crate) confirm_disable: &'static str,
    pub(crate) confirm_revoke: &'static str,
    pub(crate) admin: &'static str,
    pub(crate) saved_admin: &'static str,
    pub(crate) token_once: &'static str,
    pub(crate) users: &'static str,
    pub(crate) sso_roles_note: &'static str,
    pub(crate) roles: &'static str,
    pub(crate) roles_hint: &'static str,
    pub(crate) sign_in_method: &'static str,
    pub(crate) method_sso: &'static str,
    pub(crate) method_password: &'static str,
    pub(crate) method_token: &'static str,
    pub(crate) save: &'static str,
    pub(crate) disabled_short: &'static str,
    pub(crate) locked_short: &'static str,
    pub(crate) active: &'static str,
    pub(crate) new_password: &'static str,
    pub(crate) set_password: &'static str,
    pub(crate) disable: &'static str,
    pub(crate) add_user: &'static str,
    pub(crate) tokens: &'static str,
    pub(crate) create_token: &'static str,
    pub(crate) token_prefix: &'static str,
    pub(crate) revoked: &'static str,
    pub(crate) revoke: &'static str,
    pub(crate) certificates: &'static str,
    pub(crate) none_yet: &'static str,
    pub(crate) valid_until: &'static str,
    pub(crate) issuer: &'static str,
    pub(crate) last_error: &'static str,
    pub(crate) days_left: &'static str,
    pub(crate) zones: &'static str,
    pub(crate) names: &'static str,
    pub(crate) no_secondaries: &'static str,
    pub(crate) secondary: &'static str,
    pub(crate) lag: &'static str,
    pub(crate) in_sync: &'static str,
    pub(crate) behind: &'static str,
    pub(crate) report: &'static str,
    pub(crate) month: &'static str,
    pub(crate) within_standard: &'static str,
    pub(crate) standard: &'static str,
    pub(crate) decisions: &'static str,
    pub(crate) median: &'static str,
    pub(crate) finished: &'static str,
    pub(crate) returns_by_reason: &'static str,
    pub(crate) rejections_by_reason: &'static str,
    pub(crate) audit_head: &'static str,
    pub(crate) whole_service: &'static str,
    pub(crate) audit: &'static str,
    pub(crate) chain_ok: &'static str,
    pub(crate) chain_broken: &'static str,
    pub(crate) events: &'static str,
    pub(crate) verify_chain: &'static str,
    pub(crate) target: &'static str,
    pub(crate) details: &'static str,
    pub(crate) next_page: &'static str,
    pub(crate) file_letter: &'static str,
    pub(crate) file_recommendation: &'static str,
    pub(crate) file_response_letter: &'static str,
    pub(crate) did_submit: &'static str,
    pub(crate) did_approve: &'static str,
    pub(crate) did_return: &'static str,
    pub(crate) did_reject: &'static str,
    pub(crate) did_resubmit: &'static str,
    pub(crate) did_withdraw: &'static str,
    pub(crate) did_complete: &'static str,
    pub(crate) cert_not_requested: &'static str,
    pub(crate) cert_not_configured: &'static str,
    pub(crate) cert_not_started: &'static str,
    pub(crate) cert_pending: &'static str,
    pub(crate) cert_issued: &'static str,
    pub(crate) cert_failed: &'static str,
    pub(crate) cert_revoked: &'static str,
    pub(crate) new_request: &'static str,
    pub(crate) new_request_intro: &'static str,
    pub(crate) zone: &'static str,
    pub(crate) label: &'static str,
    pub(crate) label_hint: &'static str,
    pub(crate) record_lines: &'static str,
    pub(crate) contact_name: &'static str,
    pub(crate) contact_email: &'static str,
    pub(crate) contact_phone: &'static str,
    pub(crate) recommendation_ref: &'static str,
    pub(crate) letter: &'static str,
    pub(crate) recommendation: &'static str,
    pub(crate) files_hint: &'static str,
    pub(crate) certificate_wanted: &'static str,
    pub(crate) agency_code: &'static str,
    pub(crate) submit: &'static str,
    pub(crate) register: &'static str,
    pub(crate) search: &'static str,
    pub(crate) all_agencies: &'static str,
    pub(crate) filter: &'static str,
    pub(crate) suspended: &'static str,
    pub(crate) created: &'static str,
    pub(crate) names_shown: &'static str,
    pub(crate) attach: &'static str,
    pub(crate) resubmit: &'static str,
    pub(crate) resubmit_intro: &'static str,
    pub(crate) withdraw: &'static str,
    pub(crate) your_actions: &'static str,
    pub(crate) findings: &'static str,
    pub(crate) no_findings: &'static str,
    pub(crate) check_now: &'static str,
    pub(crate) first_seen: &'static str,
    pub(crate) last_seen: &'static str,
    pub(crate) evidence: &'static str,
    pub(crate) finding_open: &'static str,
    pub(crate) finding_resolved: &'static str,
    pub(crate) suspend_for_finding: &'static str,
    pub(crate) findings_short: &'static str,
    pub(crate) checked_now: &'static str,
    pub(crate) state: &'static str,
}

/// Bahasa Indonesia, as the offices' standards word it.
pub(crate) static ID: Text = Text {
    skip: "Langsung ke isi",
    sign_in_title: "Masuk",
    sign_in_intro: "Layanan pendaftaran subdomain. Masuk dengan akun Anda.",
    user_name: "Nama pengguna (NIP)",
    password: "Kata sandi",
    sign_in: "Masuk",
    sign_in_sso: "Masuk dengan akun SSO",
    or: "atau",
    no_sign_in: "Konsol hanya dapat dibuka melalui HTTPS. Hubungi administrator.",
    sign_out: "Keluar",
    signed_in_as: "Masuk sebagai",
    inbox: "Kotak masuk",
    inbox_intro: "Permohonan yang menunggu tindakan Anda; yang paling mendesak di atas.",
    inbox_empty: "Tidak ada permohonan yang menunggu tindakan Anda.",
    request: "Permohonan",
    name: "Nama",
    kind: "Jenis",
    kind_create: "Pendaftaran subdomain",
    kind_change: "Perubahan rekaman",
    kind_delete: "Penghapusan subdomain",
    agency: "Perangkat daerah",
    step: "Tahap",
    status: "Status",
    due: "Batas waktu",
    overdue: "Terlambat",
    records: "Rekaman DNS",
    record_type: "Tipe",
    write_title: "Perubahan yang diminta melalui API",
    download_register: "Unduh seluruh daftar",
    warnings: "Perhatian untuk pemeriksa",
    write_note: "Persetujuan tahap pembuatan menerapkan perubahan ini pada rekaman nama ini sebagaimana adanya saat itu.",
    write_remove: "hapus",
    write_add: "tambah",
    write_action: "Tindakan",
    value: "Nilai",
    attachments: "Lampiran",
    no_attachments: "Tidak ada lampiran.",
    history: "Riwayat",
    when: "Waktu",
    who: "Oleh",
    action: "Tindakan",
    certificate: "Sertifikat SSL",
    purpose: "Tujuan penggunaan",
    contact: "Narahubung",
    decision: "Keputusan",
    decision_intro: "Setujui untuk meneruskan ke tahap berikutnya; kembalikan atau tolak dengan catatan dan alasan.",
    approve: "Setujui",
    return_: "Kembalikan",
    reject: "Tolak",
    note: "Catatan",
    reason: "Alasan",
    reason_hint: "Wajib bila mengembalikan atau menolak",
    saved: "Keputusan tersimpan.",
    error_title: "Tidak dapat dilanjutkan",
    back: "Kembali",
    in_review: "Dalam proses",
    returned: "Dikembalikan",
    completed: "Selesai",
    rejected: "Ditolak",
    withdrawn: "Dibatalkan",
    wrong_password: "Nama pengguna atau kata sandi salah.",
    locked: "Akun dikunci karena kata sandi salah berulang kali, sampai",
    too_many: "Terlalu banyak percobaan masuk. Tunggu satu menit.",
    sso_refused: "Penyedia SSO menolak permintaan masuk:",
    sso_unavailable: "Penyedia SSO sedang tidak dapat dihubungi. Coba lagi sebentar lagi.",
    sso_replayed: "Permintaan masuk ini sudah pernah dipakai. Silakan masuk kembali.",
    sso_unknown: "Permintaan masuk ini tidak dikenal atau sudah kedaluwarsa. Silakan masuk kembali.",
    disabled: "Akun ini dinonaktifkan.",
    unmapped: "Akun ini tidak mempunyai peran di layanan ini:",
    form_expired: "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman lalu coba lagi.",
    unavailable: "Layanan sedang tidak dapat menyimpan. Coba lagi sebentar lagi.",
    internal: "Terjadi kesalahan pada layanan. Kejadian ini sudah dicatat.",
    not_found: "Halaman atau permohonan tidak ditemukan.",
    confirm_reject: "Tolak permohonan ini? Penolakan bersifat final.",
    confirm_withdraw: "Batalkan permohonan ini?",
    confirm_disable: "Nonaktifkan pengguna ini? Token dan sesinya berhenti berlaku.",
    confirm_revoke: "Cabut token ini?",
    admin: "Administrasi",
    saved_admin: "Perubahan tersimpan.",
    token_once: "Token ini hanya ditampilkan sekali. Salin sekarang, untuk",
    users: "Pengguna",
    sso_roles_note: "Peran pengguna SSO mengikuti penyedia SSO dan diperbarui setiap kali masuk.",
    roles: "Peran",
    roles_hint: "dipisah koma; PERAN@YYYY-MM-DD..YYYY-MM-DD untuk pejabat sementara",
    sign_in_method: "Cara masuk",
    method_sso: "SSO",
    method_password: "Kata sandi",
    method_token: "Token API saja",
    save: "Simpan",
    disabled_short: "Nonaktif",
    locked_short: "Terkunci",
    active: "Aktif",
    new_password: "kata sandi baru (min. 12)",
    set_password: "Atur kata sandi",
    disable: "Nonaktifkan",
    add_user: "Tambah pengguna",
    tokens: "Token API",
    create_token: "Buat token",
    token_prefix: "Awalan",
    revoked: "Dicabut",
    revoke: "Cabut",
    certificates: "Sertifikat SSL",
    none_yet: "Belum ada.",
    valid_until: "Berlaku sampai",
    issuer: "Penerbit",
    last_error: "Galat terakhir",
    days_left: "hari lagi",
    zones: "Zona",
    names: "Nama",
    no_secondaries: "Tidak ada server sekunder.",
    secondary: "Server sekunder",
    lag: "Tertinggal (perubahan / detik)",
    in_sync: "Sinkron",
    behind: "Tertinggal",
    report: "Laporan layanan bulanan",
    month: "Bulan",
    within_standard: "Sesuai standar waktu",
    standard: "Standar waktu",
    decisions: "Jumlah",
    median: "Median",
    finished: "Permohonan selesai",
    returns_by_reason: "Dikembalikan, menurut alasan",
    rejections_by_reason: "Ditolak, menurut alasan",
    audit_head: "Kepala jejak audit akhir bulan",
    whole_service: "Seluruh layanan",
    audit: "Jejak audit",
    chain_ok: "Rantai hash jejak audit utuh",
    chain_broken: "Rantai hash jejak audit RUSAK",
    events: "kejadian",
    verify_chain: "Periksa rantai",
    target: "Sasaran",
    details: "Rincian",
    next_page: "Halaman berikutnya",
    file_letter: "Surat permohonan",
    file_recommendation: "Rekomendasi aplikasi",
    file_response_letter: "Surat tanggapan",
    did_submit: "Diajukan",
    did_approve: "Disetujui",
    did_return: "Dikembalikan",
    did_reject: "Ditolak",
    did_resubmit: "Diajukan kembali",
    did_withdraw: "Dibatalkan",
    did_complete: "Selesai",
    cert_not_requested: "Tidak diminta",
    cert_not_configured: "Belum tersedia: ACME belum dikonfigurasi",
    cert_not_started: "Diminta setelah subdomain aktif",
    cert_pending: "Sedang diterbitkan",
    cert_issued: "Terbit",
    cert_failed: "Gagal diterbitkan",
    cert_revoked: "Dicabut",
    new_request: "Ajukan permohonan",
    new_request_intro: "Isi data subdomain yang dimohonkan, lalu lampirkan surat permohonan bertanda tangan dan rekomendasi aplikasi.",
    zone: "Domain induk",
    label: "Nama subdomain",
    label_hint: "huruf kecil, angka dan tanda hubung, misalnya layanan",
    record_lines: "Rekaman yang dimohonkan",
    contact_name: "Nama narahubung",
    contact_email: "Email narahubung",
    contact_phone: "Telepon narahubung",
    recommendation_ref: "Nomor rekomendasi",
    letter: "Surat permohonan (PDF)",
    recommendation: "Rekomendasi aplikasi (PDF)",
    files_hint: "PDF, PNG atau JPEG, paling besar",
    certificate_wanted: "Minta sertifikat SSL",
    agency_code: "Kode perangkat daerah",
    submit: "Kirim permohonan",
    register: "Daftar subdomain",
    search: "Cari nama",
    all_agencies: "Semua perangkat daerah",
    filter: "Tampilkan",
    suspended: "Ditangguhkan",
    created: "Dibuat",
    names_shown: "nama ditampilkan dari",
    attach: "Lampirkan berkas",
    resubmit: "Ajukan kembali",
    resubmit_intro: "Permohonan dikembalikan. Perbaiki sesuai catatan, lampirkan berkas baru bila perlu, lalu ajukan kembali.",
    withdraw: "Batalkan permohonan",
    your_actions: "Tindakan pemohon",
    findings: "Temuan pengawasan",
    no_findings: "Tidak ada temuan.",
    check_now: "Periksa sekarang",
    first_seen: "Pertama terlihat",
    last_seen: "Terakhir terlihat",
    evidence: "Bukti",
    finding_open: "Terbuka",
    finding_resolved: "Selesai",
    suspend_for_finding: "Tangguhkan karena temuan ini",
    findings_short: "temuan",
    checked_now: "Pemeriksaan selesai.",
    state: "Keadaan",
};

/// English.
pub(crate) static EN: Text = Text {
    skip: "Skip to content",
    sign_in_title: "Sign in",
    sign_in_intro: "Subdomain registration service. Sign in with your account.",
    user_name: "User name (NIP)",
    password: "Password",
    sign_in: "Sign in",
    sign_in_sso: "Sign in with single sign-on",
    or: "or",
    no_sign_in: "The console opens over HTTPS only. Ask your administrator.",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    inbox: "Inbox",
    inbox_intro: "Requests waiting for you; the most urgent first.",
    inbox_empty: "Nothing is waiting for you.",
    request: "Request",
    name: "Name",
    kind: "Kind",
    kind_create: "New subdomain",
    kind_change: "Change of records",
    kind_delete: "Removal",
    agency: "Agency",
    step: "Step",
    status: "Status",
    due: "Due",
    overdue: "Overdue",
    records: "DNS records",
    record_type: "Type",
    write_title: "Change asked through the API",
    download_register: "Download the whole register",
    warnings: "For the reviewers' attention",
    write_note: "Approving the provisioning step makes this change on the name's records as they are then.",
    write_remove: "remove",
    write_add: "add",
    write_action: "Action",
    value: "Value",
    attachments: "Attachments",
    no_attachments: "No attachments.",
    history: "History",
    when: "When",
    who: "By",
    action: "Action",
    certificate: "TLS certificate",
    purpose: "Purpose",
    contact: "Contact",
    decision: "Decision",
    decision_intro: "Approve to pass it to the next step; return or reject it with a note and a reason.",
    approve: "Approve",
    return_: "Return",
    reject: "Reject",
    note: "Note",
    reason: "Reason",
    reason_hint: "Required to return or reject",
    saved: "Decision saved.",
    error_title: "Cannot continue",
    back: "Back",
    in_review: "In review",
    returned: "Returned",
    completed: "Completed",
    rejected: "Rejected",
    withdrawn: "Withdrawn",
    wrong_password: "The user name or password is wrong.",
    locked: "The account is locked after repeated wrong passwords until",
    too_many: "Too many sign-in attempts. Wait a minute.",
    sso_refused: "The single sign-on provider refused the sign-in:",
    sso_unavailable: "The single sign-on provider cannot be reached now. Try again shortly.",
    sso_replayed: "This sign-in was used already. Sign in again.",
    sso_unknown: "This sign-in is unknown or has expired. Sign in again.",
    disabled: "This account is disabled.",
    unmapped: "This account has no role in this service:",
    form_expired: "The form has expired or is not valid. Reload the page and try again.",
    unavailable: "The service cannot save right now. Try again shortly.",
    internal: "The service failed. This has been logged.",
    not_found: "No such page or request.",
    confirm_reject: "Reject this request? A rejection is final.",
    confirm_withdraw: "Withdraw this request?",
    confirm_disable: "Disable this user? Their tokens and sessions stop working.",
    confirm_revoke: "Revoke this token?",
    admin: "Administration",
    saved_admin: "Saved.",
    token_once: "This token is shown once only. Copy it now, for",
    users: "Users",
    sso_roles_note: "The roles of single sign-on users follow the provider and are set again at each sign-in.",
    roles: "Roles",
    roles_hint: "comma-separated; ROLE@YYYY-MM-DD..YYYY-MM-DD for an acting official",
    sign_in_method: "Sign-in",
    method_sso: "Single sign-on",
    method_password: "Password",
    method_token: "API tokens only",
    save: "Save",
    disabled_short: "Disabled",
    locked_short: "Locked",
    active: "Active",
    new_password: "new password (12 or more)",
    set_password: "Set password",
    disable: "Disable",
    add_user: "Add user",
    tokens: "API tokens",
    create_token: "Create token",
    token_prefix: "Prefix",
    revoked: "Revoked",
    revoke: "Revoke",
    certificates: "TLS certificates",
    none_yet: "None yet.",
    valid_until: "Valid until",
    issuer: "Issuer",
    last_error: "Last error",
    days_left: "days left",
    zones: "Zones",
    names: "Names",
    no_secondaries: "No secondaries.",
    secondary: "Secondary",
    lag: "Behind (changes / seconds)",
    in_sync: "In sync",
    behind: "Behind",
    report: "Monthly service report",
    month: "Month",
    within_standard: "Within the time standard",
    standard: "Time standard",
    decisions: "Count",
    median: "Median",
    finished: "Requests finished",
    returns_by_reason: "Returned, by reason",
    rejections_by_reason: "Rejected, by reason",
    audit_head: "The audit trail's head at the month's end",
    whole_service: "The whole service",
    audit: "Audit trail",
    chain_ok: "The audit trail's hash chain is whole",
    chain_broken: "The audit trail's hash chain is BROKEN",
    events: "events",
    verify_chain: "Verify the chain",
    target: "Target",
    details: "Details",
    next_page: "Next page",
    file_letter: "Request letter",
    file_recommendation: "Recommendation",
    file_response_letter: "Response letter",
    did_submit: "Submitted",
    did_approve: "Approved",
    did_return: "Returned",
    did_reject: "Rejected",
    did_resubmit: "Resubmitted",
    did_withdraw: "Withdrawn",
    did_complete: "Completed",
    cert_not_requested: "Not asked for",
    cert_not_configured: "Not available: ACME is not configured",
    cert_not_started: "Ordered once the name is live",
    cert_pending: "Being issued",
    cert_issued: "Issued",
    cert_failed: "Failed",
    cert_revoked: "Revoked",
    new_request: "New request",
    new_request_intro: "Fill in the subdomain asked for, then attach the signed request letter and the application's recommendation.",
    zone: "Zone",
    label: "Subdomain name",
    label_hint: "lower-case letters, digits and hyphens, e.g. services",
    record_lines: "Records asked for",
    contact_name: "Contact name",
    contact_email: "Contact email",
    contact_phone: "Contact phone",
    recommendation_ref: "Recommendation number",
    letter: "Request letter (PDF)",
    recommendation: "Recommendation (PDF)",
    files_hint: "PDF, PNG or JPEG, at most",
    certificate_wanted: "Ask for a TLS certificate",
    agency_code: "Agency code",
    submit: "Submit request",
    register: "Subdomain register",
    search: "Search by name",
    all_agencies: "All agencies",
    filter: "Show",
    suspended: "Suspended",
    created: "Created",
    names_shown: "names shown of",
    attach: "Attach files",
    resubmit: "Resubmit",
    resubmit_intro: "The request was returned. Correct it as the note says, attach new files if needed, and resubmit.",
    withdraw: "Withdraw request",
    your_actions: "Applicant's actions",
    findings: "Oversight findings",
    no_findings: "No findings.",
    check_now: "Check now",
    first_seen: "First seen",
    last_seen: "Last seen",
    evidence: "Evidence",
    finding_open: "Open",
    finding_resolved: "Resolved",
    suspend_for_finding: "Suspend for this finding",
    findings_short: "findings",
    checked_now: "Checked.",
    state: "State",
};

impl Text {
    /// A certificate's state, as the request and register name it.
    pub(crate) fn certificate_of(&self, state: &str) -> &'static str {
        match state {
            "not_requested" => self.cert_not_requested,
            "not_configured" => self.cert_not_configured,
            "not_started" => self.cert_not_started,
            "pending" => self.cert_pending,
            "issued" => self.cert_issued,
            "failed" => self.cert_failed,
            _ => self.cert_revoked,
        }
    }

    /// What a finding of the oversight checker is, in the page's language; an unknown kind
    /// as it is.
    pub(crate) fn finding_of<'a>(&self, kind: &'a str) -> &'a str {
        use crate::domain::finding::FindingKind;
        let Some(k) = FindingKind::parse(kind) else {
            return kind;
        };
        if !std::ptr::eq(self, &EN) {
            return k.in_indonesian();
        }
        match k {
            FindingKind::DanglingCname => "the CNAME points at a name that does not exist",
            FindingKind::DanglingMx => "the MX points at a mail server that does not exist",
            FindingKind::UnclaimedService => {
                "the CNAME points at an empty cloud service (anyone can claim it)"
            }
            FindingKind::LameDelegation => "the delegation's servers do not answer for it",
            FindingKind::Unreachable => "the site stopped answering on 80 and 443",
            FindingKind::TlsMismatch => "the TLS certificate does not match the name",
            FindingKind::TlsExpired => "the TLS certificate has expired",
            FindingKind::CertificateNotServed => "the certificate ranah issued is not served",
            FindingKind::AbuseContent => "the page matches the abuse patterns (gambling)",
            FindingKind::ForeignRedirect => "the page redirects to another domain",
        }
    }

    /// An attachment's kind; an unknown word as it is.
    pub(crate) fn file_of<'a>(&self, kind: &'a str) -> &'a str {
        match kind {
            "letter" => self.file_letter,
            "recommendation" => self.file_recommendation,
            "response_letter" => self.file_response_letter,
            other => other,
        }
    }

    /// What a history entry says was done; an unknown word as it is.
    pub(crate) fn action_of<'a>(&self, action: &'a str) -> &'a str {
        match action {
            "submitted" => self.did_submit,
            "approved" => self.did_approve,
            "returned" => self.did_return,
            "rejected" => self.did_reject,
            "resubmitted" => self.did_resubmit,
            "withdrawn" | "auto_withdrawn" => self.did_withdraw,
            "completed" => self.did_complete,
            other => other,
        }
    }

    /// A time standard as the workflow words it (`3 working hours`), in the page's language.
    pub(crate) fn standard_of(&self, standard: &str) -> String {
        if std::ptr::eq(self, &EN) {
            return standard.to_owned();
        }
        standard
            .replace(" working hours", " jam kerja")
            .replace(" working hour", " jam kerja")
            .replace(" working days", " hari kerja")
            .replace(" working day", " hari kerja")
    }

    /// A request's kind.
    pub(crate) fn kind_of(&self, kind: crate::domain::request::Kind) -> &'static str {
        use crate::domain::request::Kind;
        match kind {
            Kind::Create => self.kind_create,
            Kind::Change => self.kind_change,
            Kind::Delete => self.kind_delete,
        }
    }

    /// A request's status, as staff read it.
    pub(crate) fn status_of(&self, status: &str) -> &'static str {
        match status {
            "in_review" => self.in_review,
            "returned" => self.returned,
            "completed" => self.completed,
            "rejected" => self.rejected,
            _ => self.withdrawn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn lang(accept: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(accept).unwrap(),
        );
        Lang::of(&h)
    }

    #[test]
    fn indonesian_unless_english_comes_first() {
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::Id);
        assert_eq!(lang("en-US,en;q=0.9"), Lang::En);
        assert_eq!(lang("id-ID,id;q=0.9,en;q=0.8"), Lang::Id);
        assert_eq!(lang("en;q=0.5,id;q=0.9"), Lang::Id);
        assert_eq!(lang("fr-FR"), Lang::Id);
        assert_eq!(lang("fr,en;q=0.3"), Lang::En);
    }
}
