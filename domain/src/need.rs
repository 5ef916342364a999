//! The second level of needs, under the eleven reasons: what a person needs help with in
//! particular (debt advice, befriending, carer support), and what a service offers. Wherever
//! reasons are given (a referral's reasons, a service's needs, a directory search) a specific
//! need may be given instead or as well; it rolls up to its reason, so the reports, which
//! count reasons, roll up to the first level.

use crate::Reason;
use crate::codes::code_list;

code_list! {
    /// A specific need, under one reason ([`Need::reason`]).
    pub enum Need as "need" {
        Counselling = "counselling",
        MentalHealthSupport = "mental_health_support",
        PeerSupport = "peer_support",
        Befriending = "befriending",
        SocialGroups = "social_groups",
        HousingAdvice = "housing_advice",
        HomelessnessSupport = "homelessness_support",
        DebtAdvice = "debt_advice",
        BenefitsAdvice = "benefits_advice",
        EnergyAndBills = "energy_and_bills",
        FoodSupport = "food_support",
        EmploymentSupport = "employment_support",
        Volunteering = "volunteering",
        LearningAndSkills = "learning_and_skills",
        DigitalSkills = "digital_skills",
        PhysicalActivity = "physical_activity",
        HealthyEating = "healthy_eating",
        Gardening = "gardening",
        StopSmoking = "stop_smoking",
        ParentingSupport = "parenting_support",
        RelationshipSupport = "relationship_support",
        CarerSupport = "carer_support",
        BereavementSupport = "bereavement_support",
        ConditionSupportGroups = "condition_support_groups",
        SelfManagement = "self_management",
    }
}

impl Need {
    /// The reason it comes under.
    pub fn reason(self) -> Reason {
        use Need::*;
        match self {
            Counselling | MentalHealthSupport | PeerSupport => Reason::EmotionalWellbeing,
            Befriending | SocialGroups => Reason::Loneliness,
            HousingAdvice | HomelessnessSupport => Reason::Housing,
            DebtAdvice | BenefitsAdvice | EnergyAndBills | FoodSupport => Reason::MoneyAndBenefits,
            EmploymentSupport | Volunteering | LearningAndSkills | DigitalSkills => {
                Reason::EmploymentAndSkills
            }
            PhysicalActivity | HealthyEating | Gardening | StopSmoking => Reason::HealthyLifestyle,
            ParentingSupport | RelationshipSupport => Reason::Family,
            CarerSupport => Reason::CaringResponsibilities,
            BereavementSupport => Reason::Bereavement,
            ConditionSupportGroups | SelfManagement => Reason::LongTermCondition,
        }
    }

    /// What it covers, for people choosing one.
    pub fn description(self) -> &'static str {
        use Need::*;
        match self {
            Counselling => "Talking therapies and counselling",
            MentalHealthSupport => "Support with mental health, short of treatment",
            PeerSupport => "Groups of people with a shared experience supporting each other",
            Befriending => "Regular contact with a volunteer befriender",
            SocialGroups => "Groups and clubs to meet people",
            HousingAdvice => "Advice on tenancies, repairs and housing options",
            HomelessnessSupport => "Help for people homeless or at risk of it",
            DebtAdvice => "Free advice on debts and arrears",
            BenefitsAdvice => "Help to claim the benefits a person is entitled to",
            EnergyAndBills => "Help with fuel poverty and household bills",
            FoodSupport => "Food banks, pantries and community meals",
            EmploymentSupport => "Help to find or stay in work",
            Volunteering => "Opportunities to volunteer",
            LearningAndSkills => "Courses and adult learning",
            DigitalSkills => "Help to get online and use digital services",
            PhysicalActivity => "Walking, exercise and sport",
            HealthyEating => "Cooking and eating well",
            Gardening => "Gardening and green spaces",
            StopSmoking => "Stopping smoking and cutting down on alcohol",
            ParentingSupport => "Support for parents and families",
            RelationshipSupport => "Support with relationships",
            CarerSupport => "Support for unpaid carers",
            BereavementSupport => "Support after a death",
            ConditionSupportGroups => "Groups for people living with a condition",
            SelfManagement => "Learning to manage a long-term condition day to day",
        }
    }

    /// The needs under `reason`, in code-list order.
    pub fn under(reason: Reason) -> impl Iterator<Item = Need> {
        Need::ALL
            .iter()
            .copied()
            .filter(move |n| n.reason() == reason)
    }
}

/// A code of either level: a reason, or a specific need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NeedCode {
    Reason(Reason),
    Need(Need),
}

impl std::str::FromStr for NeedCode {
    type Err = crate::UnknownCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::parse(code)
    }
}

impl NeedCode {
    /// Reads a code of either level (the two lists share no code).
    pub fn parse(code: &str) -> Result<Self, crate::UnknownCode> {
        code.parse::<Reason>()
            .map(NeedCode::Reason)
            .or_else(|_| code.parse::<Need>().map(NeedCode::Need))
            .map_err(|_| crate::UnknownCode {
                list: "need",
                value: code.to_owned(),
                expected: Self::codes(),
            })
    }

    /// Every code of both levels: the reasons, then the specific needs.
    pub fn codes() -> &'static [&'static str] {
        static ALL: std::sync::LazyLock<Vec<&'static str>> =
            std::sync::LazyLock::new(|| Reason::CODES.iter().chain(Need::CODES).copied().collect());
        &ALL
    }

    /// The reason it rolls up to.
    pub fn reason(self) -> Reason {
        match self {
            NeedCode::Reason(r) => r,
            NeedCode::Need(n) => n.reason(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NeedCode::Reason(r) => r.as_str(),
            NeedCode::Need(n) => n.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_need_is_under_one_reason_and_the_levels_share_no_code() {
        for need in Need::ALL {
            assert!(Need::under(need.reason()).any(|n| n == *need), "{need}");
            assert!(
                need.as_str().parse::<Reason>().is_err(),
                "{need} is also a reason"
            );
            assert!(!need.description().is_empty());
        }
        // Every reason but `other` has specific needs.
        for reason in Reason::ALL {
            assert_eq!(
                Need::under(*reason).next().is_none(),
                *reason == Reason::Other,
                "{reason}"
            );
        }
        assert_eq!(NeedCode::codes().len(), Reason::ALL.len() + Need::ALL.len());
        // The API's views state `max_items = 25` for specific needs.
        assert_eq!(Need::ALL.len(), 25);
    }

    #[test]
    fn codes_of_either_level_parse_and_roll_up() {
        assert_eq!(
            NeedCode::parse("debt_advice").map(NeedCode::reason).ok(),
            Some(Reason::MoneyAndBenefits)
        );
        assert_eq!(
            NeedCode::parse("housing").map(NeedCode::reason).ok(),
            Some(Reason::Housing)
        );
        assert!(NeedCode::parse("diagnosis").is_err());
    }
}
