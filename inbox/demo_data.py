"""The scripted content of `inbox demo`: people, inboxes, catalogue and support scripts.

Only data lives here; inbox/demo.py turns it into actions. The shop is
fictional ("Fernway", home and outdoor goods). Customer addresses use the
reserved example.* domains and phone numbers from fictional or drama ranges,
so nothing here reaches a real person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inbox.models import ChannelKind, Role

DOMAIN = "demo.inbox.test"
PASSWORD = "demo-password"
SHOP = "Fernway"
SEED = 20240611


@dataclass(frozen=True)
class AgentSeed:
    key: str
    name: str
    role: Role

    @property
    def email(self) -> str:
        return f"{self.key}@{DOMAIN}"


AGENTS = (
    AgentSeed("admin", "Sam Whitfield", Role.ADMIN),
    AgentSeed("lena", "Lena Hoffmann", Role.LEAD),
    AgentSeed("ana", "Ana Souza", Role.AGENT),
    AgentSeed("tomas", "Tomás Ortega", Role.AGENT),
    AgentSeed("priya", "Priya Raman", Role.AGENT),
    AgentSeed("olga", "Olga Novak", Role.AGENT),
    AgentSeed("noah", "Noah Kim", Role.AGENT),
)

# Noah is a new starter in no team: he only sees the chat he was granted
# directly, which shows access control at a glance.
TEAMS = {
    "Support": ("lena", "ana", "tomas", "priya"),
    "Billing": ("lena", "priya", "olga"),
}


@dataclass(frozen=True)
class InboxSeed:
    key: str
    name: str
    channel: ChannelKind
    # Which customer identity a message on this inbox arrives with.
    identity: str
    teams: tuple[str, ...]
    agents: tuple[str, ...] = ()
    category: tuple[str, ...] = ("support",)
    config: dict[str, str] = field(default_factory=dict)


def sees(agent_key: str, inbox: InboxSeed) -> bool:
    return agent_key in inbox.agents or any(agent_key in TEAMS[t] for t in inbox.teams)


# The tables below are laid out by hand, one entry to a few lines; the
# formatter would spread each over a dozen.
# fmt: off
INBOXES = (
    InboxSeed(
        "support_email", "Support email", ChannelKind.EMAIL, "email", ("Support",),
        config={"address": f"help@{DOMAIN}"},
    ),
    InboxSeed(
        "billing_email", "Billing email", ChannelKind.EMAIL, "email", ("Billing",),
        category=("billing",), config={"address": f"billing@{DOMAIN}"},
    ),
    InboxSeed(
        "chat", "Website chat", ChannelKind.LIVE_CHAT, "live_chat", ("Support",), ("noah",),
        # A public key (not a secret) so the demo's widget can be embedded at once.
        config={"widget": "fernway.example", "public_key": "fernway-demo-website-chat"},
    ),
    InboxSeed(
        "whatsapp", "WhatsApp", ChannelKind.WHATSAPP, "whatsapp", ("Support", "Billing"),
        category=("support", "billing"), config={"number": "+44 7700 900000"},
    ),
    InboxSeed(
        "telegram", "Telegram", ChannelKind.TELEGRAM, "telegram", ("Support",),
        config={"bot": "@FernwayHelpBot"},
    ),
    InboxSeed(
        "sms", "SMS", ChannelKind.SMS, "phone", ("Support",), config={"number": "+1 202 555 0100"}
    ),
    InboxSeed(
        "instagram", "Instagram", ChannelKind.INSTAGRAM, "instagram", ("Support",),
        config={"account": "@fernway.home"},
    ),
)
# fmt: on


@dataclass(frozen=True)
class Country:
    code: str
    language: str
    currency: str
    phone: str  # each "#" becomes a digit
    carrier: str
    # Space-separated, to keep one country to a few lines.
    cities: str
    first_names: str
    last_names: str


# fmt: off
COUNTRIES = (
    Country("ES", "es", "EUR", "+34 6## ### ###", "SEUR", "Madrid Barcelona Valencia Sevilla",
            "Lucía Javier Carmen Pablo Elena Diego Marta Sergio",
            "García Martín Navarro Romero Serrano Castillo Molina Ortiz"),
    Country("DE", "de", "EUR", "+49 151 ########", "DHL", "Berlin Hamburg München Leipzig",
            "Jonas Katrin Felix Miriam Lukas Sabine Tobias Anja",
            "Schneider Becker Wagner Krüger Vogel Brandt Fuchs Lorenz"),
    Country("FR", "fr", "EUR", "+33 6 ## ## ## ##", "Colissimo", "Lyon Nantes Paris Toulouse",
            "Camille Hugo Léa Antoine Chloé Julien Manon Théo",
            "Bernard Dubois Moreau Laurent Girard Lefèvre Roux Fontaine"),
    Country("GB", "en", "GBP", "+44 7700 900###", "Royal Mail", "Leeds Bristol Glasgow Manchester",
            "Oliver Amelia Harry Isla George Freya Jack Poppy",
            "Hughes Patel Walsh Bennett Clarke Doyle Shaw Ahmed"),
    Country("US", "en", "USD", "+1 202 555 01##", "UPS", "Denver Portland Austin Chicago",
            "Emily Marcus Grace Tyler Hannah Andre Megan Caleb",
            "Johnson Nguyen Reyes Brooks Coleman Foster Price Jenkins"),
    Country("NL", "nl", "EUR", "+31 6 ########", "PostNL", "Utrecht Rotterdam Groningen Haarlem",
            "Sanne Daan Lotte Bram Femke Ruben Noor Stijn",
            "Jansen Bakker Visser Smit Mulder Meijer Bos Dekker"),
    Country("IT", "it", "EUR", "+39 3## ### ####", "BRT", "Bologna Torino Milano Napoli",
            "Giulia Marco Chiara Luca Sara Matteo Francesca Davide",
            "Rossi Bianchi Ferrari Esposito Colombo Ricci Greco Marino"),
)
# fmt: on

LEAD = "lena"  # approves refunds and hands conversations over
CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}
# Final states cycle through this pattern, so even a small demo has each kind.
STATES = ("resolved", "unassigned", "assigned", "pending", "resolved", "assigned")
# How long ago (hours) a conversation in each final state started.
AGES = {"unassigned": (0.2, 20), "assigned": (3, 72), "pending": (20, 120), "resolved": (48, 600)}
# Minutes between the previous step and one of this kind: (chat-like, email).
GAPS = {
    "c": ((2, 30), (40, 1200)), "a": ((1, 12), (6, 240)), "n": ((1, 25), (1, 25)),
    "lead": ((8, 90), (8, 90)), "claim": ((3, 60), (3, 60)), "assign": ((5, 120), (5, 120)),
}  # fmt: skip
# How often a customer is reachable on each channel besides email.
CHANNEL_ODDS = {
    "whatsapp": 0.55,
    "phone": 0.3,
    "live_chat": 0.5,
    "telegram": 0.25,
    "instagram": 0.25,
}
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
STREETS = ("Station Road", "Mill Lane", "Park Avenue", "Church Street", "Harbour Way", "Elm Row")


@dataclass(frozen=True)
class Product:
    name: str
    price: float  # in the customer's currency, to keep the demo readable
    apparel: bool = False


PRODUCTS = (
    Product("Trailhead 28L backpack", 89.00),
    Product("Merino crew sweater", 74.50, apparel=True),
    Product("Cast-iron skillet (26 cm)", 54.90),
    Product("Insulated bottle (750 ml)", 29.00),
    Product("Linen duvet cover, double", 119.00),
    Product("Ceramic pour-over set", 42.00),
    Product("Wool throw blanket", 68.00),
    Product("Rain shell jacket", 139.00, apparel=True),
    Product("Bamboo cutting board set", 36.50),
    Product("Trail running shorts", 39.90, apparel=True),
    Product("LED reading lamp", 58.00),
    Product("Canvas weekender bag", 96.00),
)
PLANS = ("free", "free", "free", "plus", "plus", "business")
COMPANIES = ("Bluebird Studio", "Harbour Café", "Quill & Ledger", "Northlight Yoga", "Tallow Co.")
TAGS = ("vip", "repeat-buyer", "wholesale", "newsletter", "at-risk", "b2b", "influencer")

CUSTOMER_NOTES = (
    "Prefers WhatsApp over email; answers within minutes there.",
    "Long-time customer, first order in 2019. Be generous with goodwill gestures.",
    "Asked not to be contacted by phone.",
    "Orders in bulk before the summer season for their shop.",
    "Two late deliveries this quarter; already had one free-shipping code.",
    "Very detailed in emails; appreciates full explanations rather than short answers.",
    "Works nights; replies usually arrive after 10pm.",
    "Mentioned writing a review of the backpack on their blog.",
)
FOLLOW_UPS = (
    "Any update on this?",
    "Hello? Is anyone there?",
    "Just checking you got my message.",
    "Sorry to chase, but I need this sorted today if possible.",
)

# A script is a list of turns (kind, text or alternatives). Kinds:
#   c    customer message          a    agent reply
#   ask  agent reply that waits on the customer (a pending conversation stops here)
#   n    private note by the agent lead  private note by the team lead
# Placeholders are filled per conversation by inbox/demo.py.
Turn = tuple[str, str | tuple[str, ...]]


@dataclass(frozen=True)
class Script:
    category: str
    subject: str
    turns: tuple[Turn, ...]
    apparel: bool = False


# fmt: off
SCRIPTS = {
    "order_not_arrived": Script("support", "Where is my order {order}?", (
        ("c", ("Hi, I ordered the {product} ({order}) over a week ago and it still hasn't "
               "arrived. The tracking page hasn't changed in four days.",
               "Hello, my order {order} was due on Monday and there's still no sign of it. "
               "Can you check what's going on?")),
        ("ask", "Sorry about the wait, {first}. {order} was handed to {carrier} with tracking "
                "{tracking}, and the last scan was at their regional depot. Could you confirm "
                "the delivery address is still {address}?"),
        ("c", ("Yes, that's right. Nobody left a card either.", "Yes, same address as always.")),
        ("n", "Opened a trace with {carrier} for {tracking}; they answer within 48h."),
        ("a", "Thanks for confirming. I've asked {carrier} to trace the parcel and I'll update "
              "you as soon as I hear. If it's lost we'll send a replacement at no cost."),
        ("c", ("It turned up this morning, it was with a neighbour. Thanks for chasing!",
               "Parcel arrived today. Thanks for the help.")),
        ("a", "Great news, glad it reached you! Just reply here if anything's wrong with it."),
    )),
    "refund": Script("billing", "Refund for {order}", (
        ("c", ("I returned the {product} from order {order} two weeks ago but haven't seen a "
               "refund yet. The return was signed for last Tuesday.",
               "Where is my refund for {order}? Your site said 5 days and it's been 12.")),
        ("ask", "Thanks for getting in touch, {first}. The return has arrived at our warehouse. "
                "Did you pay by card or PayPal? Refunds go back to the original payment method "
                "and I want to check the right one."),
        ("c", ("By card, a Visa ending in {last4}.", "Card, Mastercard ending {last4}.")),
        ("n", "Return checked in but the refund never triggered: stuck in 'inspection'. "
              "@{lead} can you approve a refund of {amount}?"),
        ("lead", ("Approved. Please ask the warehouse why inspection took over 5 days.",
                  "Approved, go ahead.")),
        ("a", "I've refunded {amount} to your card. Depending on your bank it shows up within "
              "3-5 working days. Sorry it took longer than it should have."),
        ("c", ("Perfect, thank you.", "Great, thanks for sorting it.")),
    )),
    "password_reset": Script("support", "Can't log in to my account", (
        ("c", ("I'm trying to reset my password but the email never arrives. I've checked spam.",
               "The password reset link says it has expired every time I click it. Help?")),
        ("ask", "Sorry for the trouble, {first}. For security I can't set a password myself, "
                "but I can send a new link. Is the account under {email}?"),
        ("c", "Yes, that's the one."),
        ("n", "Reset mails to this provider were soft-bouncing last week; resent from admin."),
        ("a", "I've sent a fresh reset link, valid for 60 minutes. If it isn't there in ten "
              "minutes, tell me and I'll check our mail logs."),
        ("c", ("Got it and I'm back in. Thanks!", "Worked this time, cheers.")),
    )),
    "invoice_question": Script("billing", "Invoice {invoice}: company details", (
        ("c", ("Could you reissue invoice {invoice} with our company name and VAT number? Our "
               "accountant can't book it as it is.",
               "Hi, the invoice for {order} is in my personal name but it was a business "
               "purchase. Can it be changed?")),
        ("ask", "Of course, {first}. Please send the registered company name and VAT number "
                "exactly as they should appear on the invoice."),
        ("c", "Sure: {company}, VAT {vat}. Same address as on the order."),
        ("n", "Corrected invoice generated in the billing tool; {invoice} voided."),
        ("a", "Here you go: I've voided {invoice} and issued a corrected invoice with your "
              "company details. You'll also find it under Orders > Invoices in your account."),
        ("c", "Thanks, that's exactly what we needed."),
    )),
    "product_question": Script("support", "Question about the {product}", (
        ("c", ("Before I order the {product}: how well does it hold up with daily use, and "
               "what's the warranty?",
               "Hi! How durable is the {product}? Thinking of it as a gift.")),
        ("ask", "Good question! It's made for daily use and comes with a 2-year warranty; the "
                "care guide is on the product page. Is it for you or a present?"),
        ("c", ("A present for my sister.", "It's a gift, yes.")),
        ("a", "Lovely! Tick 'gift' at checkout and we'll leave the prices out and add a card. "
              "Orders placed before 2pm ship the same day."),
        ("c", ("Ordered, thanks!", "Lovely, just ordered it.")),
    )),
    "address_change": Script("support", "Change delivery address for {order}", (
        ("c", "I just placed order {order} and realised it's going to my old address. Can you "
              "send it to {new_address} instead?"),
        ("ask", "I caught it before it was packed, {first}. Is that a permanent change for your "
                "account as well, or only for this order?"),
        ("c", ("Only this order please, I'm staying with family.", "Just this order, thanks.")),
        ("n", "Address changed in the warehouse system before picking. Account default kept."),
        ("a", "Done: {order} will go to {new_address}. You'll get a new shipping confirmation "
              "when it leaves the warehouse."),
        ("c", "Brilliant, thank you."),
    )),
    "damaged_item": Script("support", "{product} arrived damaged", (
        ("c", ("My {product} arrived today damaged. The box was crushed and so is one side.",
               "The {product} from {order} arrived damaged, and the outer box was soaked.")),
        ("ask", "I'm really sorry, {first}. Could you send a photo of the item and the box? "
                "Then I can arrange a replacement straight away, no need to send it back."),
        ("c", "Just sent the photos of both; the second one shows the damage best."),
        ("n", "Courier damage. Replacement order created; damage claim filed with {carrier}."),
        ("a", "Thanks for the photos. A replacement is on its way and should arrive in 2-3 "
              "working days. Please keep or recycle the damaged one."),
        ("c", ("That was quick, thank you!", "Thanks, much appreciated.")),
    )),
    "subscription_cancel": Script("billing", "Cancel my {shop} Plus subscription", (
        ("c", ("Please cancel my {shop} Plus subscription. I don't order often enough for it "
               "to be worth it.", "How do I stop the monthly Plus payment? Can't find it.")),
        ("ask", "Sorry to see you go, {first}. I can cancel at the end of the current period "
                "on {renewal}, so free shipping stays until then, or right now with a "
                "pro-rata refund. Which would you prefer?"),
        ("c", ("End of the period is fine.", "End of the period, thanks.")),
        ("n", "Offered 3 months at half price as a retention offer; declined."),
        ("a", "Done: your subscription ends on {renewal} and you won't be charged again. A "
              "confirmation email is on its way."),
        ("c", "Thanks for making it easy."),
    )),
    "double_charge": Script("billing", "Charged twice for {order}", (
        ("c", ("My bank shows two charges of {amount} for order {order}. Only one order went "
               "through.", "I was charged twice for {order}! Please fix this.")),
        ("ask", "Thanks for flagging it, {first}. Could you tell me the dates of both charges "
                "as your statement shows them? One may be a pre-authorisation that drops off."),
        ("c", "Both on the same day, and both say completed, not pending."),
        ("n", "Provider shows a duplicate capture after a timeout retry. @{lead} can you "
              "approve refunding the duplicate {amount}?"),
        ("lead", "Approved. Please link the provider incident in the weekly report."),
        ("a", "You're right, the payment went through twice after a timeout on our side. I've "
              "refunded the duplicate {amount}; expect it within 3-5 working days."),
        ("c", "Thanks for sorting it out."),
    )),
    "exchange_size": Script("support", "Exchange {product} for another size", (
        ("c", ("The {product} is a bit small. Can I swap it for a size up?",
               "Could I exchange the {product} from {order}? It's too big.")),
        ("ask", "Of course! Which size would you like, and are the tags still on?"),
        ("c", ("Size L please, tags still on.", "M please. Never worn, tags on.")),
        ("a", "Here's a prepaid return label: drop the parcel at any {carrier} point and we'll "
              "send the new size as soon as it's scanned."),
        ("c", "Dropped it off today."),
        ("a", "Got the scan: your new size ships today. Enjoy!"),
    ), apparel=True),
}
# fmt: on


# Two hand-written customers whose stories cross channels, with explicit
# timings (hours ago), so the demo always shows one customer's timeline
# interleaving email, WhatsApp and chat.
@dataclass(frozen=True)
class Story:
    name: str
    country: str
    email: str
    # Identities besides the email, by kind; a live_chat one is learned on ingest.
    handles: dict[str, str]
    attributes: dict[str, str]
    tags: tuple[str, ...]
    order: str
    product: str
    amount: float
    # inbox key -> email subject
    subjects: dict[str, str] = field(default_factory=dict)
    # (hours ago, inbox key, kind, agent key, text); inbound steps ignore the agent key.
    steps: tuple[tuple[float, str, str, str, str], ...] = ()
    # inbox key -> final status ("open", "pending" or "resolved")
    finals: dict[str, str] = field(default_factory=dict)
    note: tuple[str, str] = ("", "")


# fmt: off
STORIES = (
    Story(
        "María López", "ES", "maria.lopez@example.com",
        {"whatsapp": "+34 612 345 678", "live_chat": "visitor-5f2c81a9d0"},
        {"plan": "plus", "country": "ES", "language": "es"}, ("repeat-buyer",),
        "FW-20417", "Trailhead 28L backpack", 89.00,
        steps=(
            (150, "support_email", "c", "", "Hello, my order FW-20417 (the Trailhead backpack) "
             "should have arrived last week. Tracking says 'at depot' since Thursday."),
            (148.5, "support_email", "ask", "ana", "Hi María,\n\nSorry about this. SEUR shows "
             "the parcel at their Valencia depot. I've asked them to check; can you give it "
             "two more days?\n\nBest regards,\nAna"),
            (102, "whatsapp", "c", "", "Hi, I wrote by email about FW-20417. Still nothing, "
             "and the tracking hasn't moved."),
            (101.6, "whatsapp", "a", "ana", "Hi María, it's Ana. I have your email open too. "
             "I've opened a trace with SEUR and I'm keeping both threads in sync."),
            (101.5, "whatsapp", "n", "ana", "Same customer as the email thread on FW-20417. "
             "@Lena can you approve a refund of €89.00 if the trace fails by Friday?"),
            (100.8, "whatsapp", "lead", "lena", "Approved. Add free shipping on her next "
             "order too, she's had a rough week with us."),
            (52, "support_email", "c", "", "Still nothing. I'd like my money back please."),
            (51.7, "support_email", "a", "ana", "Hi María,\n\nSEUR confirmed the parcel is "
             "lost. I've refunded €89.00 to your card (3-5 working days) and added free "
             "shipping to your next order.\n\nBest regards,\nAna"),
            (20, "whatsapp", "c", "", "Got the refund notice, thank you! Is the backpack "
             "back in stock? I'd still like one."),
            (3, "chat", "c", "", "Hi! Quick one: can I pick up the new order in store in "
             "Valencia instead of delivery?"),
        ),
        subjects={"support_email": "Order FW-20417 has not arrived"},
        finals={"support_email": "resolved", "whatsapp": "open", "chat": "open"},
        note=("ana", "Lost parcel FW-20417 refunded in full (approved by Lena). Free "
                     "shipping promised on her next order."),
    ),
    Story(
        "Daniel Okafor", "GB", "daniel@quill-ledger.example.org",
        {"phone": "+44 7700 900461", "telegram": "5093318824"},
        {"plan": "business", "country": "GB", "language": "en", "company": "Quill & Ledger"},
        ("b2b", "vip"), "FW-19982", "Canvas weekender bag", 288.00,
        steps=(
            (222, "billing_email", "c", "", "Hello, invoice INV-2024-0731 is missing our "
             "VAT number, so our accountant can't book it. Can you reissue it?"),
            (219, "billing_email", "ask", "olga", "Hi Daniel,\n\nOf course. Please send the "
             "VAT number exactly as it should appear.\n\nKind regards,\nOlga"),
            (196, "telegram", "c", "", "Hi, can we add two more seats to our business plan? "
             "Two new starters next month."),
            (195.5, "telegram", "ask", "tomas", "Hi Daniel! Yes, that works. How should the "
             "new seats be billed: on the existing monthly invoice or separately?"),
            (195.4, "telegram", "n", "tomas", "Upsell: business plan, +2 seats. @Lena FYI, "
             "he also has an open invoice fix with Billing."),
            (170, "billing_email", "c", "", "VAT number: GB 123 4567 89. Company: Quill & "
             "Ledger Ltd."),
            (168, "billing_email", "a", "olga", "Hi Daniel,\n\nDone: the corrected invoice "
             "is attached and also under Orders > Invoices.\n\nKind regards,\nOlga"),
        ),
        subjects={"billing_email": "VAT number missing on INV-2024-0731"},
        finals={"billing_email": "resolved", "telegram": "pending"},
        note=("olga", "Invoices must always carry VAT GB 123 4567 89 and the Ltd suffix."),
    ),
)
# fmt: on
