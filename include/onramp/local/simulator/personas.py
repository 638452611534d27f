"""The hidden onboarding personas and the reference data (countries, devices, names) they draw from.

Personas are the ground truth the segmentation model should rediscover: each one shifts signup source,
device, onboarding progress, feature usage, invitations, conversion to paid and churn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

# Batch history ends here; signups spread over the HISTORY_DAYS before it. Fixed so that the same seed
# always gives the same timestamps.
SIM_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 365

SOURCES = ("organic", "paid_search", "paid_social", "social", "referral", "partner", "content", "invite")
DEVICES = ("desktop", "mobile", "tablet")
PLANS = ("free", "starter", "pro", "enterprise")
PAID_PLANS = ("starter", "pro", "enterprise")
COMPANY_SIZES = ("1", "2-10", "11-50", "51-200", "201-1000", "1000+")


@dataclass(frozen=True)
class OnboardingStep:
    id: int
    key: str
    name: str
    is_required: bool


STEPS = (
    OnboardingStep(1, "verify_email", "Verify your email", True),
    OnboardingStep(2, "complete_profile", "Complete your profile", False),
    OnboardingStep(3, "set_up_workspace", "Set up your workspace", True),
    OnboardingStep(4, "invite_teammates", "Invite your teammates", False),
    OnboardingStep(5, "create_first_project", "Create your first project", True),
    OnboardingStep(6, "connect_integration", "Connect an integration", False),
    OnboardingStep(7, "import_data", "Import your data", False),
    OnboardingStep(8, "customize_dashboard", "Customize your dashboard", False),
)

FEATURES = (
    "projects", "dashboards", "reports", "comments", "sharing", "templates",
    "integrations", "api", "automations", "exports", "mobile_app", "ai_assistant",
)


@dataclass(frozen=True)
class Persona:
    """How one kind of new customer behaves; weights are relative, probabilities absolute."""

    name: str
    share: float
    sources: dict[str, float]
    devices: dict[str, float]
    step_complete: tuple[float, ...]  # P(completed) per STEPS entry
    step_touch: float  # P(started but not completed) for a step not completed
    step_gap_hours: float  # mean time between consecutive steps
    feature_mean: float  # Poisson mean of distinct features used
    feature_weights: dict[str, float]
    usage_log_mean: float  # log-mean of uses per feature
    invites_mean: float  # Poisson mean of invitations sent (beyond accepted ones)
    convert_p: float  # P(upgrade to a paid plan)
    paid_plans: dict[str, float]
    convert_days: float  # mean days from signup to upgrade
    churn_p: float
    churn_days: float  # mean days from signup (or upgrade) to churn
    company_sizes: dict[str, float]
    annual_p: float  # P(yearly billing | paid)
    opt_in_p: float  # P(marketing opt-in)


_BASE_FEATURES = dict.fromkeys(FEATURES, 1.0)

PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="explorer", share=0.28,
        sources={"organic": 35, "content": 20, "social": 15, "paid_search": 10, "paid_social": 5,
                 "referral": 10, "partner": 2, "invite": 3},
        devices={"desktop": 70, "mobile": 22, "tablet": 8},
        step_complete=(0.92, 0.75, 0.85, 0.15, 0.70, 0.35, 0.30, 0.65), step_touch=0.35, step_gap_hours=20,
        feature_mean=6.0, feature_weights={**_BASE_FEATURES, "dashboards": 2, "reports": 2, "templates": 2,
                                           "ai_assistant": 1.5},
        usage_log_mean=1.6, invites_mean=0.3,
        convert_p=0.18, paid_plans={"starter": 65, "pro": 33, "enterprise": 2}, convert_days=20,
        churn_p=0.25, churn_days=60,
        company_sizes={"1": 30, "2-10": 35, "11-50": 20, "51-200": 10, "201-1000": 4, "1000+": 1},
        annual_p=0.25, opt_in_p=0.45,
    ),
    Persona(
        name="team_builder", share=0.17,
        sources={"referral": 25, "partner": 15, "organic": 20, "invite": 25, "paid_search": 10, "content": 5},
        devices={"desktop": 85, "mobile": 10, "tablet": 5},
        step_complete=(0.96, 0.80, 0.95, 0.90, 0.80, 0.40, 0.35, 0.50), step_touch=0.30, step_gap_hours=6,
        feature_mean=5.0, feature_weights={**_BASE_FEATURES, "comments": 4, "sharing": 4, "projects": 3,
                                           "templates": 2, "api": 0.3},
        usage_log_mean=2.0, invites_mean=6.0,
        convert_p=0.45, paid_plans={"starter": 25, "pro": 60, "enterprise": 15}, convert_days=14,
        churn_p=0.10, churn_days=120,
        company_sizes={"1": 2, "2-10": 30, "11-50": 35, "51-200": 20, "201-1000": 9, "1000+": 4},
        annual_p=0.45, opt_in_p=0.40,
    ),
    Persona(
        name="quick_converter", share=0.12,
        sources={"paid_search": 55, "paid_social": 15, "organic": 15, "referral": 10, "content": 5},
        devices={"desktop": 80, "mobile": 15, "tablet": 5},
        step_complete=(0.96, 0.50, 0.90, 0.20, 0.85, 0.20, 0.25, 0.20), step_touch=0.15, step_gap_hours=2,
        feature_mean=3.0, feature_weights={**_BASE_FEATURES, "projects": 3, "reports": 2, "exports": 2},
        usage_log_mean=1.8, invites_mean=0.5,
        convert_p=0.80, paid_plans={"starter": 50, "pro": 45, "enterprise": 5}, convert_days=3,
        churn_p=0.15, churn_days=90,
        company_sizes={"1": 15, "2-10": 40, "11-50": 25, "51-200": 12, "201-1000": 6, "1000+": 2},
        annual_p=0.35, opt_in_p=0.30,
    ),
    Persona(
        name="tire_kicker", share=0.33,
        sources={"paid_social": 30, "social": 30, "paid_search": 15, "organic": 15, "content": 5, "invite": 5},
        devices={"desktop": 30, "mobile": 60, "tablet": 10},
        step_complete=(0.60, 0.20, 0.40, 0.03, 0.12, 0.02, 0.02, 0.05), step_touch=0.20, step_gap_hours=48,
        feature_mean=1.2, feature_weights={**_BASE_FEATURES, "mobile_app": 4, "templates": 2, "api": 0.1,
                                           "integrations": 0.2, "automations": 0.2},
        usage_log_mean=0.4, invites_mean=0.05,
        convert_p=0.02, paid_plans={"starter": 90, "pro": 10}, convert_days=30,
        churn_p=0.60, churn_days=10,
        company_sizes={"1": 55, "2-10": 30, "11-50": 10, "51-200": 4, "201-1000": 1},
        annual_p=0.05, opt_in_p=0.25,
    ),
    Persona(
        name="power_integrator", share=0.10,
        sources={"organic": 30, "partner": 25, "content": 15, "referral": 15, "paid_search": 10, "invite": 5},
        devices={"desktop": 95, "mobile": 3, "tablet": 2},
        step_complete=(0.98, 0.60, 0.95, 0.40, 0.90, 0.95, 0.85, 0.50), step_touch=0.40, step_gap_hours=4,
        feature_mean=8.0, feature_weights={**_BASE_FEATURES, "api": 6, "integrations": 6, "automations": 5,
                                           "exports": 3, "mobile_app": 0.2},
        usage_log_mean=3.0, invites_mean=1.5,
        convert_p=0.55, paid_plans={"starter": 15, "pro": 55, "enterprise": 30}, convert_days=10,
        churn_p=0.08, churn_days=150,
        company_sizes={"1": 10, "2-10": 25, "11-50": 30, "51-200": 20, "201-1000": 10, "1000+": 5},
        annual_p=0.55, opt_in_p=0.35,
    ),
)
PERSONA_NAMES = tuple(p.name for p in PERSONAS)
PERSONA_SHARES = np.array([p.share for p in PERSONAS])
TEAM_BUILDER = PERSONA_NAMES.index("team_builder")


def _table(attr: str, options: tuple[str, ...]) -> np.ndarray:
    """(personas x options) weight matrix from each persona's dict ``attr``."""
    return np.array([[getattr(p, attr).get(o, 0.0) for o in options] for p in PERSONAS], dtype=np.float64)


SOURCE_TABLE = _table("sources", SOURCES)
DEVICE_TABLE = _table("devices", DEVICES)
PAID_PLAN_TABLE = _table("paid_plans", PAID_PLANS)
COMPANY_SIZE_TABLE = _table("company_sizes", COMPANY_SIZES)
FEATURE_TABLE = _table("feature_weights", FEATURES)
STEP_COMPLETE = np.array([p.step_complete for p in PERSONAS])


def persona_array(attr: str) -> np.ndarray:
    """One scalar attribute per persona, indexable by persona code."""
    return np.array([getattr(p, attr) for p in PERSONAS], dtype=np.float64)


@dataclass(frozen=True)
class Habits:
    """How a persona shows up in the event history beyond what the app tables record (history.py)."""

    research_visits: float  # Poisson mean of anonymous visits before the signup visit
    research_days: float  # mean days between those visits
    form_seconds: float  # median time to fill the signup form
    browse: float  # relative number of extra page/screen views per session
    dwell_seconds: float  # median seconds spent per feature use
    signup_methods: tuple[float, float, float, float]  # weights of SIGNUP_METHODS


SIGNUP_METHODS = ("email", "google", "github", "sso")
HABITS: dict[str, Habits] = {
    "explorer": Habits(2.0, 4.0, 60, 1.5, 90, (60, 30, 7, 3)),
    "team_builder": Habits(1.0, 2.0, 45, 1.0, 60, (55, 35, 5, 5)),
    "quick_converter": Habits(0.3, 1.0, 25, 0.6, 45, (50, 40, 5, 5)),
    "tire_kicker": Habits(0.5, 6.0, 90, 0.5, 20, (55, 40, 4, 1)),
    "power_integrator": Habits(1.5, 3.0, 40, 2.0, 240, (40, 25, 30, 5)),
}


def habit_array(attr: str) -> np.ndarray:
    """One history habit per persona, indexable by persona code."""
    return np.array([getattr(HABITS[name], attr) for name in PERSONA_NAMES], dtype=np.float64)


# Countries: (code, weight, calling code, locale, currency, name pool, national number digits).
COUNTRIES = (
    ("US", 30, "1", "en-US", "USD", "en", 10), ("GB", 8, "44", "en-GB", "GBP", "en", 10),
    ("IN", 9, "91", "en-IN", "INR", "in", 10), ("DE", 7, "49", "de-DE", "EUR", "de", 10),
    ("BR", 6, "55", "pt-BR", "BRL", "pt", 11), ("FR", 5, "33", "fr-FR", "EUR", "fr", 9),
    ("CA", 5, "1", "en-CA", "CAD", "en", 10), ("ES", 3, "34", "es-ES", "EUR", "es", 9),
    ("MX", 3, "52", "es-MX", "MXN", "es", 10), ("NL", 3, "31", "nl-NL", "EUR", "de", 9),
    ("AU", 3, "61", "en-AU", "AUD", "en", 9), ("JP", 3, "81", "ja-JP", "JPY", "ja", 10),
    ("IT", 3, "39", "it-IT", "EUR", "it", 10), ("PL", 2, "48", "pl-PL", "PLN", "pl", 9),
    ("SE", 2, "46", "sv-SE", "SEK", "de", 9), ("NG", 2, "234", "en-NG", "NGN", "en", 10),
    ("PT", 1, "351", "pt-PT", "EUR", "pt", 9), ("IE", 1, "353", "en-IE", "EUR", "en", 9),
    ("AR", 1.5, "54", "es-AR", "ARS", "es", 10), ("SG", 1.5, "65", "en-SG", "SGD", "en", 8),
)
COUNTRY_CODES = tuple(c[0] for c in COUNTRIES)
COUNTRY_WEIGHTS = np.array([c[1] for c in COUNTRIES], dtype=np.float64)
COUNTRY_CALLING = tuple(c[2] for c in COUNTRIES)
COUNTRY_LOCALES = tuple(c[3] for c in COUNTRIES)
COUNTRY_CURRENCY = tuple(c[4] for c in COUNTRIES)
COUNTRY_DIGITS = np.array([c[6] for c in COUNTRIES], dtype=np.int64)

NAME_POOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chris", "Karen",
         "Daniel", "Emily", "Matthew", "Olivia", "Anthony", "Emma", "Mark", "Sophia", "Steven", "Grace",
         "Andrew", "Chloe", "Joshua", "Hannah", "Ryan", "Amelia", "Kevin", "Ava", "Brian", "Lucy"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
         "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
         "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
         "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Parker", "Collins"),
    ),
    "in": (
        ("Aarav", "Vivaan", "Aditya", "Arjun", "Sai", "Rohan", "Priya", "Ananya", "Diya", "Isha",
         "Kavya", "Neha", "Rahul", "Vikram", "Sneha", "Pooja", "Amit", "Karan", "Meera", "Nikhil"),
        ("Sharma", "Verma", "Gupta", "Patel", "Singh", "Kumar", "Reddy", "Iyer", "Nair", "Mehta",
         "Joshi", "Rao", "Das", "Bose", "Chopra", "Malhotra", "Kapoor", "Agarwal", "Pillai", "Shah"),
    ),
    "de": (
        ("Lukas", "Leon", "Finn", "Jonas", "Paul", "Lena", "Anna", "Mia", "Emma", "Hannah",
         "Felix", "Max", "Lars", "Sven", "Julia", "Laura", "Sophie", "Jan", "Tim", "Katrin"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
         "Koch", "Richter", "Klein", "Wolf", "de Vries", "Jansen", "Andersson", "Johansson", "Larsson", "Bakker"),
    ),
    "pt": (
        ("João", "Pedro", "Lucas", "Gabriel", "Rafael", "Maria", "Ana", "Beatriz", "Juliana", "Camila",
         "Mariana", "Larissa", "Tiago", "Bruno", "Diego", "Fernanda", "Carla", "Rita", "Inês", "Miguel"),
        ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida", "Nascimento",
         "Lima", "Araújo", "Ferreira", "Carvalho", "Gomes", "Martins", "Rocha", "Ribeiro", "Alves", "Barbosa",
         "Cardoso"),
    ),
    "fr": (
        ("Louis", "Gabriel", "Jules", "Hugo", "Arthur", "Camille", "Léa", "Manon", "Chloé", "Inès",
         "Lucas", "Nathan", "Théo", "Sarah", "Julie", "Marie", "Claire", "Antoine", "Pierre", "Élodie"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
         "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier"),
    ),
    "es": (
        ("Alejandro", "Daniel", "Pablo", "Javier", "Carlos", "Lucía", "Sofía", "Martina", "Valentina", "Paula",
         "Diego", "Mateo", "Sergio", "Andrea", "Laura", "Carmen", "Elena", "Jorge", "Luis", "Isabel"),
        ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
         "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez", "Romero", "Navarro", "Torres",
         "Ramírez"),
    ),
    "ja": (
        ("Haruto", "Yuto", "Sota", "Riku", "Ren", "Yui", "Hina", "Aoi", "Sakura", "Mei",
         "Kenji", "Takumi", "Daiki", "Yuki", "Akari", "Misaki", "Kaito", "Sho", "Nana", "Rin"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi",
         "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue", "Kimura", "Hayashi",
         "Shimizu", "Mori"),
    ),
    "it": (
        ("Francesco", "Alessandro", "Lorenzo", "Matteo", "Leonardo", "Giulia", "Sofia", "Aurora", "Alice",
         "Ginevra", "Marco", "Luca", "Andrea", "Chiara", "Sara", "Elisa", "Paolo", "Davide", "Martina", "Federica"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
         "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano", "Mancini", "Rizzo", "Lombardi", "Moretti"),
    ),
    "pl": (
        ("Jakub", "Kacper", "Szymon", "Filip", "Jan", "Zuzanna", "Julia", "Maja", "Zofia", "Hanna",
         "Piotr", "Tomasz", "Michał", "Anna", "Katarzyna", "Magdalena", "Paweł", "Marcin", "Agnieszka", "Ewa"),
        ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
         "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski", "Krawczyk",
         "Piotrowski", "Grabowski", "Nowakowski", "Pawłowski"),
    ),
}
NAME_POOL_KEYS = tuple(NAME_POOLS)
COUNTRY_POOL = np.array([NAME_POOL_KEYS.index(c[5]) for c in COUNTRIES], dtype=np.int64)

EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "proton.me",
                 "gmx.de", "web.de", "orange.fr", "yahoo.co.jp", "qq.com", "mail.com")
EMAIL_DOMAIN_WEIGHTS = (40, 15, 9, 9, 6, 3, 3, 2, 2, 1, 1, 1)
COMPANY_WORDS = ("Acme", "Northwind", "Bluebird", "Brightline", "Nimbus", "Riverstone", "Quantum", "Evergreen",
                 "Summit", "Lumen", "Atlas", "Cobalt", "Harbor", "Pioneer", "Vertex", "Copper", "Juniper",
                 "Orbit", "Sparrow", "Granite", "Meridian", "Beacon", "Willow", "Falcon")
COMPANY_SUFFIXES = ("Labs", "Studio", "Inc", "Group", "Analytics", "Co", "Partners", "Digital", "Systems",
                    "Works", "Collective", "Health")
INDUSTRIES = ("software", "ecommerce", "marketing", "finance", "education", "healthcare", "media",
              "consulting", "nonprofit", "manufacturing", "real_estate", "other")
INDUSTRY_WEIGHTS = (22, 14, 12, 9, 8, 7, 6, 8, 4, 4, 3, 3)

# Device -> (os options, weights); os -> (browser options, weights).
OS_BY_DEVICE: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "desktop": (("windows", "macos", "linux", "chromeos"), (55, 33, 8, 4)),
    "mobile": (("ios", "android"), (45, 55)),
    "tablet": (("ipados", "android"), (65, 35)),
}
OS_NAMES = ("windows", "macos", "linux", "chromeos", "ios", "android", "ipados")
BROWSER_NAMES = ("chrome", "safari", "firefox", "edge", "samsung_internet")
BROWSERS_BY_OS: dict[str, tuple[float, ...]] = {  # weights over BROWSER_NAMES
    "windows": (65, 0, 10, 25, 0), "macos": (50, 42, 8, 0, 0), "linux": (60, 0, 40, 0, 0),
    "chromeos": (100, 0, 0, 0, 0), "ios": (12, 88, 0, 0, 0), "android": (75, 0, 5, 0, 20),
    "ipados": (10, 90, 0, 0, 0),
}
OS_TABLE = np.array([[dict(zip(*OS_BY_DEVICE[d], strict=True)).get(o, 0.0) for o in OS_NAMES] for d in DEVICES])
BROWSER_TABLE = np.array([BROWSERS_BY_OS[o] for o in OS_NAMES], dtype=np.float64)

USER_AGENTS: dict[tuple[str, str], str] = {
    ("windows", "chrome"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/131.0.0.0 Safari/537.36",
    ("windows", "firefox"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ("windows", "edge"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    ("macos", "chrome"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/131.0.0.0 Safari/537.36",
    ("macos", "safari"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                         "Version/18.1 Safari/605.1.15",
    ("macos", "firefox"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    ("linux", "chrome"): "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/131.0.0.0 Safari/537.36",
    ("linux", "firefox"): "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ("chromeos", "chrome"): "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
                            "Chrome/131.0.0.0 Safari/537.36",
    ("ios", "safari"): "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ("ios", "chrome"): "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    ("android", "chrome"): "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/131.0.6778.81 Mobile Safari/537.36",
    ("android", "firefox"): "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
    ("android", "samsung_internet"): "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 "
                                     "(KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    ("ipados", "safari"): "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                          "Version/18.1 Mobile/15E148 Safari/604.1",
    ("ipados", "chrome"): "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                          "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
}


_ANDROID_TABLET_UA = {
    "chrome": "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.6778.81 Safari/537.36",
    "firefox": "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0",
    "samsung_internet": "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
                        "SamsungBrowser/26.0 Chrome/122.0.0.0 Safari/537.36",
}


def user_agent(os_name: str, browser: str, device: str = "") -> str:
    """A realistic User-Agent header for a (device, os, browser) combination the simulator can draw."""
    if device == "tablet" and os_name == "android":
        return _ANDROID_TABLET_UA.get(browser, _ANDROID_TABLET_UA["chrome"])
    return USER_AGENTS.get((os_name, browser)) or USER_AGENTS[(os_name, next(
        b for (o, b) in USER_AGENTS if o == os_name))]


# Monthly list price per seat in cents; enterprise has a 10-seat minimum.
PLAN_PRICE_CENTS = {"free": 0, "starter": 1200, "pro": 2900, "enterprise": 7900}
UTM_CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "paid_search": ("brand_search", "generic_onboarding_software", "competitor_terms"),
    "paid_social": ("spring_launch", "retargeting_trial", "lookalike_signup"),
    "social": ("organic_social",),
    "content": ("blog_onboarding_guide", "webinar_activation", "newsletter"),
    "partner": ("partner_marketplace", "agency_program"),
    "referral": ("refer_a_friend",),
}
UTM_MEDIUM = {"paid_search": "cpc", "paid_social": "paid_social", "social": "social", "content": "email",
              "partner": "partner", "referral": "referral"}
UTM_SOURCE = {"paid_search": "google", "paid_social": "facebook", "social": "linkedin", "content": "newsletter",
              "partner": "partner_portal", "referral": "friend"}
