//! The person referred: identity and contact details, never clinical data.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, NhsNumber, Postcode};

code_list! {
    /// How the person would like to be contacted.
    pub enum PreferredContact as "preferred_contact" {
        Phone = "phone",
        Email = "email",
        Letter = "letter",
        Text = "text",
    }
}

code_list! {
    /// Why a person's record may stand for the same human as another record.
    pub enum DuplicateReason as "possible_duplicate_reason" {
        /// Same given and family name and date of birth, and no conflicting NHS number.
        SimilarNameAndDateOfBirth = "similar_name_and_date_of_birth",
        /// The same NHS number as the other record, but a different family name or date of
        /// birth: it may be the other person's number given by mistake, so the referral was
        /// never attached to that record.
        NhsNumberDemographicsDiffer = "nhs_number_demographics_differ",
        /// The same NHS number and details as an earlier record: two records of one human made
        /// before the database kept one current record per NHS number.
        SameNhsNumber = "same_nhs_number",
    }
}

impl DuplicateReason {
    /// Whether the flagged record holds the other record's NHS number. Until staff resolve it,
    /// the person's identity is unconfirmed: nothing about them goes to a partner, the record
    /// stands outside the one-current-record-per-NHS-number rule, and the flag cannot be
    /// dismissed while the two still share the number (merge them, or correct one number).
    pub fn shares_nhs_number(self) -> bool {
        match self {
            DuplicateReason::SimilarNameAndDateOfBirth => false,
            DuplicateReason::NhsNumberDemographicsDiffer | DuplicateReason::SameNhsNumber => true,
        }
    }
}

/// A given or family name: one line.
pub const NAME: TextRule = TextRule::line(100);
/// A postal address: lines allowed.
pub const ADDRESS: TextRule = TextRule::lines(500);

/// A person as recorded on a referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: DateOfBirth,
    pub nhs_number: Option<NhsNumber>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub postcode: Option<Postcode>,
    pub address: Option<String>,
    pub preferred_contact: Option<PreferredContact>,
}

/// A person's record: one per human, shared by their referrals (episodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: Uuid,
    pub details: Person,
    /// Another record that may be the same human, for a link worker to merge or dismiss.
    pub possible_duplicate_of: Option<Uuid>,
    /// Why it is flagged: set exactly when `possible_duplicate_of` is.
    pub possible_duplicate_reason: Option<DuplicateReason>,
    /// Set once merged: the record that now stands for this human.
    pub merged_into: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl PersonRecord {
    /// Marks a change made at `at`: a new version.
    pub fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
        self.version += 1;
    }

    /// Clears the possible-duplicate flag.
    pub fn clear_flag(&mut self) {
        self.possible_duplicate_of = None;
        self.possible_duplicate_reason = None;
    }

    /// Whether the person's identity awaits staff: flagged as holding another record's NHS
    /// number (see [`DuplicateReason::shares_nhs_number`]).
    pub fn identity_unconfirmed(&self) -> bool {
        self.possible_duplicate_reason
            .is_some_and(DuplicateReason::shares_nhs_number)
    }
}

/// Where a referral's person is filed: see [`file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filing<'a> {
    /// Under this existing record; its details are left as they are.
    Existing(&'a PersonRecord),
    /// Under a new record, flagged as possibly the same human as another when `flag` says so.
    New {
        flag: Option<(Uuid, DuplicateReason)>,
    },
}

/// Where to file a referral for `sent`, given the current (unmerged) records that hold its NHS
/// number or share its date of birth, oldest first (others are ignored).
///
/// The record holding the NHS number (the one the one-current-record-per-number rule keeps) is
/// reused when the family name and date of birth agree ([`Person::same_demographics`]). When
/// they disagree the number may be someone else's: the referral never attaches to that record
/// but gets its own, flagged [`DuplicateReason::NhsNumberDemographicsDiffer`], or goes under an
/// earlier record flagged the same way with the same details. Without a holder, a new record
/// is flagged [`DuplicateReason::SimilarNameAndDateOfBirth`] when an earlier one
/// [`Person::may_be`] the same human: never merged silently.
pub fn file<'a>(sent: &Person, candidates: &'a [PersonRecord]) -> Filing<'a> {
    let mut flag = None;
    if let Some(number) = &sent.nhs_number {
        let (holders, sharing): (Vec<&PersonRecord>, Vec<&PersonRecord>) = candidates
            .iter()
            .filter(|c| c.details.nhs_number.as_ref() == Some(number))
            .partition(|c| !c.identity_unconfirmed());
        if let Some(holder) = holders.first() {
            if holder.details.same_demographics(sent) {
                return Filing::Existing(holder);
            }
            if let Some(earlier) = sharing.iter().find(|p| p.details.same_demographics(sent)) {
                return Filing::Existing(earlier);
            }
            flag = Some((holder.id, DuplicateReason::NhsNumberDemographicsDiffer));
        }
    }
    let similar = || {
        candidates
            .iter()
            .find(|c| c.details.date_of_birth == sent.date_of_birth && c.details.may_be(sent))
            .map(|c| (c.id, DuplicateReason::SimilarNameAndDateOfBirth))
    };
    Filing::New {
        flag: flag.or_else(similar),
    }
}

/// A family name folded for comparison: case and whitespace ignored (`van Dyke` and
/// `VANDYKE` compare equal).
pub fn fold_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Person {
    /// Same name and date of birth, ignoring case: possibly the same human. Two different NHS
    /// numbers are two people, whatever their names.
    pub fn may_be(&self, other: &Person) -> bool {
        let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        let nhs_differs =
            matches!((&self.nhs_number, &other.nhs_number), (Some(a), Some(b)) if a != b);
        !nhs_differs
            && self.date_of_birth == other.date_of_birth
            && same(&self.family_name, &other.family_name)
            && same(&self.given_name, &other.given_name)
    }
}

impl Person {
    /// Whether `other` has the same family name (ignoring case and spaces) and date of birth:
    /// what must agree before a referral carrying an NHS number a record holds is filed under
    /// that record. A given name may differ (`Sam`, `Samuel`).
    pub fn same_demographics(&self, other: &Person) -> bool {
        self.date_of_birth == other.date_of_birth
            && fold_name(&self.family_name) == fold_name(&other.family_name)
    }
}

/// A person's contact details that a preference can depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactDetail {
    Phone,
    Email,
    Address,
}

impl PreferredContact {
    /// The detail this way of contact needs.
    pub fn needs(self) -> ContactDetail {
        match self {
            PreferredContact::Phone | PreferredContact::Text => ContactDetail::Phone,
            PreferredContact::Email => ContactDetail::Email,
            PreferredContact::Letter => ContactDetail::Address,
        }
    }

    /// The preferred way of contact must have the detail it needs, or a coordinator has no
    /// way to reach the person the way they asked. `has` says which details were given.
    pub fn check(self, has: impl Fn(ContactDetail) -> bool) -> Result<(), Invalid> {
        let needed = self.needs();
        if has(needed) {
            return Ok(());
        }
        let name = match needed {
            ContactDetail::Phone => "phone",
            ContactDetail::Email => "email",
            ContactDetail::Address => "address",
        };
        Err(Invalid::new(
            "contact_detail_missing",
            format!("needs `{name}` to be given"),
        ))
    }
}

impl Person {
    /// Checks the contact preference against the details given.
    pub fn check_contact(&self) -> Result<(), Invalid> {
        let Some(preferred) = self.preferred_contact else {
            return Ok(());
        };
        preferred.check(|detail| match detail {
            ContactDetail::Phone => self.phone.is_some(),
            ContactDetail::Email => self.email.is_some(),
            ContactDetail::Address => self.address.is_some(),
        })
    }
}

/// A date of birth: a real calendar date, not in the future, not before 1900.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    /// Parses `YYYY-MM-DD` and checks it against `today`.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, Invalid> {
        let date = parse_date(input)?;
        Self::new(date, today)
    }

    /// Checks a date against `today`.
    pub fn new(date: NaiveDate, today: NaiveDate) -> Result<Self, Invalid> {
        if date > today {
            return Err(Invalid::new(
                "date_of_birth_in_future",
                "must not be in the future",
            ));
        }
        if date < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
            return Err(Invalid::new(
                "date_of_birth_implausible",
                "must be on or after 1900-01-01",
            ));
        }
        Ok(Self(date))
    }

    /// The date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// Age in whole years on `today` (0 before the first birthday, or for a day before birth).
    pub fn age_on(self, today: NaiveDate) -> u32 {
        today.years_since(self.0).unwrap_or(0)
    }
}

/// Parses a calendar date written exactly `YYYY-MM-DD`.
pub fn parse_date(input: &str) -> Result<NaiveDate, Invalid> {
    let well_formed = input.len() == 10
        && input.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    well_formed
        .then(|| NaiveDate::parse_from_str(input, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| Invalid::new("date_format", "must be a calendar date as YYYY-MM-DD"))
}

/// A phone number as given, checked for a plausible shape (7 to 15 digits, optional leading
/// `+`, spaces, hyphens and brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Exactly what [`Self::parse`] accepts, within [`Self::MAX_CHARS`], as the API's schema
    /// states it: 7 to 15 digits, each followed by any separators (`domain/tests/patterns.rs`
    /// checks they agree).
    pub const PATTERN: &'static str = r"^\s*\+?[ ()-]*([0-9][ ()-]*){7,15}\s*$";

    /// Longest accepted, counting surrounding whitespace as sent.
    pub const MAX_CHARS: usize = 25;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let trimmed = input.trim();
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let shape_ok = body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'));
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !shape_ok || !(7..=15).contains(&digits) || input.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "phone_format",
                "must be a phone number of 7 to 15 digits",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address with a plausible shape (one `@`, a dot-atom local part, a dotted domain of
/// letter-digit-hyphen labels); the domain is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Longest accepted (RFC 5321's path limit), counting surrounding whitespace as sent.
    pub const MAX_CHARS: usize = 254;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let trimmed = input.trim();
        let invalid = || Invalid::new("email_format", "must be an email address");
        let (local, domain) = trimmed.split_once('@').ok_or_else(invalid)?;
        let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        let dot_atom = |s: &str, allowed: &dyn Fn(char) -> bool| {
            !s.is_empty()
                && s.split('.')
                    .all(|part| !part.is_empty() && part.chars().all(allowed))
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let plausible = local.len() <= 64
            && input.chars().count() <= Self::MAX_CHARS
            && dot_atom(local, &atom_char)
            && domain.contains('.')
            && domain.split('.').all(label_ok);
        if !plausible {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 18).unwrap_or_default()
    }

    #[test]
    fn dates_of_birth() {
        let code = |s: &str| {
            DateOfBirth::parse(s, today())
                .map(DateOfBirth::date)
                .map_err(|e| e.code)
        };
        assert_eq!(
            code("1950-02-28"),
            Ok(NaiveDate::from_ymd_opt(1950, 2, 28).unwrap_or_default())
        );
        assert!(code("2026-03-18").is_ok());
        assert_eq!(code("2026-03-19"), Err("date_of_birth_in_future"));
        assert_eq!(code("1899-12-31"), Err("date_of_birth_implausible"));
        for bad in [
            "1950-2-28",
            "1950-02-30",
            "28/02/1950",
            "1950-02-28T00:00:00",
            "",
        ] {
            assert_eq!(code(bad), Err("date_format"), "{bad:?}");
        }
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("01284 123456").is_ok());
        assert!(Phone::parse("+44 (0)7700 900123").is_ok());
        // Padding counts towards the bound, as the schema's maxLength counts it.
        let padded = format!("01284 123456{}", " ".repeat(14));
        for bad in ["12345", "phone me", "0128412345678901234", "+", &padded] {
            assert_eq!(
                Phone::parse(bad).map_err(|e| e.code),
                Err("phone_format"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Sam.Jones@Example.ORG ").map(|e| e.as_str().to_owned()),
            Ok("Sam.Jones@example.org".to_owned())
        );
        for bad in [
            "sam",
            "sam@",
            "@example.org",
            "sam@example",
            "sam jones@example.org",
            "sam@exa..mple.org",
        ] {
            assert_eq!(
                Email::parse(bad).map_err(|e| e.code),
                Err("email_format"),
                "{bad:?}"
            );
        }
    }

    fn sam() -> Person {
        Person {
            given_name: "Sam".into(),
            family_name: "van Dyke".into(),
            date_of_birth: DateOfBirth::parse("1950-02-28", today())
                .unwrap_or(DateOfBirth(today())),
            nhs_number: None,
            phone: None,
            email: None,
            postcode: None,
            address: None,
            preferred_contact: None,
        }
    }

    #[test]
    fn demographics_compare_family_name_and_birth_ignoring_case_and_spaces() {
        let mut other = sam();
        other.given_name = "Samuel".into();
        other.family_name = " VANDYKE ".into();
        assert!(sam().same_demographics(&other));
        other.family_name = "van Dijk".into();
        assert!(!sam().same_demographics(&other));
        let mut born_later = sam();
        born_later.date_of_birth = DateOfBirth(today());
        assert!(!sam().same_demographics(&born_later));
    }

    fn record(n: u128, details: Person, reason: Option<DuplicateReason>) -> PersonRecord {
        PersonRecord {
            id: Uuid::from_u128(n),
            details,
            possible_duplicate_of: reason.map(|_| Uuid::from_u128(99)),
            possible_duplicate_reason: reason,
            merged_into: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            version: 1,
        }
    }

    fn numbered(person: Person, number: &str) -> Person {
        Person {
            nhs_number: NhsNumber::parse(number).ok(),
            ..person
        }
    }

    #[test]
    fn filing_reuses_the_holder_of_the_number_when_demographics_agree() {
        let sent = numbered(sam(), "9434765919");
        let mut renamed = sent.clone();
        renamed.given_name = "Samuel".into();
        let holder = record(1, renamed, None);
        assert_eq!(
            file(&sent, std::slice::from_ref(&holder)),
            Filing::Existing(&holder)
        );
    }

    #[test]
    fn filing_flags_a_number_held_with_other_demographics() {
        let sent = numbered(sam(), "9434765919");
        let mut other = sent.clone();
        other.family_name = "Jones".into();
        let holder = record(1, other, None);
        assert_eq!(
            file(&sent, std::slice::from_ref(&holder)),
            Filing::New {
                flag: Some((holder.id, DuplicateReason::NhsNumberDemographicsDiffer))
            }
        );
        // An earlier record flagged the same way with the sent details takes the referral.
        let earlier = record(
            2,
            sent.clone(),
            Some(DuplicateReason::NhsNumberDemographicsDiffer),
        );
        let both = [holder, earlier];
        assert_eq!(file(&sent, &both), Filing::Existing(&both[1]));
    }

    #[test]
    fn filing_flags_the_earliest_similar_record_without_a_holder() {
        let sent = numbered(sam(), "9434765919");
        let different_number = record(1, numbered(sam(), "4010232137"), None);
        let unnumbered = record(2, sam(), None);
        let later = record(3, sam(), None);
        assert_eq!(
            file(&sent, &[different_number, unnumbered, later]),
            Filing::New {
                flag: Some((
                    Uuid::from_u128(2),
                    DuplicateReason::SimilarNameAndDateOfBirth
                ))
            }
        );
        let mut stranger = sam();
        stranger.given_name = "Alex".into();
        assert_eq!(
            file(&sent, &[record(4, stranger, None)]),
            Filing::New { flag: None }
        );
        // A record flagged as holding another's number is no holder.
        let flagged = record(5, sent.clone(), Some(DuplicateReason::SameNhsNumber));
        assert_eq!(
            file(&sent, &[flagged]),
            Filing::New {
                flag: Some((
                    Uuid::from_u128(5),
                    DuplicateReason::SimilarNameAndDateOfBirth
                ))
            }
        );
    }

    #[test]
    fn only_flags_that_share_an_nhs_number_leave_identity_unconfirmed() {
        assert!(!DuplicateReason::SimilarNameAndDateOfBirth.shares_nhs_number());
        assert!(DuplicateReason::NhsNumberDemographicsDiffer.shares_nhs_number());
        assert!(DuplicateReason::SameNhsNumber.shares_nhs_number());
    }

    #[test]
    fn preferred_contact_needs_its_detail() {
        let mut person = Person {
            given_name: "Sam".into(),
            family_name: "Jones".into(),
            date_of_birth: DateOfBirth::parse("1950-02-28", today())
                .unwrap_or(DateOfBirth(today())),
            nhs_number: None,
            phone: None,
            email: None,
            postcode: None,
            address: None,
            preferred_contact: Some(PreferredContact::Text),
        };
        assert_eq!(
            person.check_contact().map_err(|e| e.code),
            Err("contact_detail_missing")
        );
        person.phone = Phone::parse("07700 900123").ok();
        assert_eq!(person.check_contact(), Ok(()));
        person.preferred_contact = Some(PreferredContact::Letter);
        assert!(person.check_contact().is_err());
        person.preferred_contact = None;
        assert_eq!(person.check_contact(), Ok(()));
    }
}
