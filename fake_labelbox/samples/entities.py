"""A sample ``ner`` export: short news items and support tickets with person, organization
and city entities, as a Labelbox user who labelled spans in a text project exports them.

Texts come from many templates (0 to 3 entities each, entities of one to four tokens, some
texts with capitalised words that are not entities), with noise: ticket prefixes, doubled
spaces, a trailing newline, an occasional lower-cased name. Names are held out: training
rows draw their people, organizations and cities from one part of each pool, validation and
test rows only from the rest, so a model is scored on names it never saw (generalisation
from context and word shape, not memorisation). About one row in ten has no label."""

from __future__ import annotations

import random
import re

from fake_labelbox.samples.export_row import (
    Row,
    SampleExport,
    export_row,
    split_of,
    text_entity,
)

ENTITY_CLASSES = ("person", "organization", "city")
SLOT_CLASSES = {"person": "person", "person2": "person", "org": "organization",
                "org2": "organization", "city": "city", "city2": "city"}

FIRST_NAMES = [
    "Maria", "James", "Aisha", "Kenji", "Olga", "Pedro", "Fatima", "Liam", "Chloe", "Arjun",
    "Sofia", "Mateo", "Ingrid", "Tomasz", "Amara", "Noah", "Yuki", "Elena", "Omar", "Priya",
    "Lucas", "Hannah", "Diego", "Mei", "Samuel", "Leila", "Viktor", "Grace", "Rafael", "Nadia",
    "Ethan", "Zara", "Felix", "Ana", "Kwame", "Isla", "Hugo", "Sakura", "Daniel", "Lena",
    "Ravi", "Clara", "Jonas", "Ayumi", "Marco", "Freya", "Tariq", "Emma", "Sven", "Aurora",
    "Bilal", "Irene", "Kofi", "Lucia", "Anders", "Mira", "Dmitri", "Esther", "Jamal", "Beatriz",
    "Henrik", "Noor", "Pablo", "Camille", "Tobias", "Yara", "Andrei", "Rosa", "Malik", "Julia",
    "Oskar", "Amira", "Stefan", "Helena", "Idris", "Paula", "Gustav", "Leona", "Emeka",
    "Valeria", "Rohan", "Astrid", "Caleb", "Nina", "Joaquin", "Selin", "Patrick", "Imani",
]
LAST_NAMES = [
    "Lopez", "Smith", "Okafor", "Tanaka", "Petrova", "Silva", "Haddad", "Murphy", "Dubois",
    "Sharma", "Rossi", "Fernandez", "Larsen", "Nowak", "Mensah", "Cohen", "Sato", "Ivanova",
    "Farouk", "Patel", "Moreau", "Becker", "Ramirez", "Chen", "Adeyemi", "Karimi", "Novak",
    "Walsh", "Costa", "O'Brien", "Nguyen", "Kowalski", "Schmidt", "Andersson", "Yilmaz",
    "Mbeki", "Kim", "Park", "Jensen", "Rahman", "Hughes", "Ortiz", "Fischer", "Bianchi", "Kaur",
    "García", "Lindqvist", "Mwangi", "Horvat", "Suzuki", "Delgado", "Kovacs", "Brennan",
    "Aydin", "Oyelaran", "Castillo", "Virtanen", "Hoffmann", "Marino", "Takahashi", "Boateng",
    "Sokolov", "Quinn", "Esposito", "Halvorsen", "Demir", "Achebe", "Moreno", "Kruger",
    "Ferreira", "Papadopoulos", "Hayes", "Lindgren", "Mendoza", "Kaplan", "Yamamoto", "Mazur",
    "Campbell", "Eze", "Romero", "Nielsen", "Bauer", "van der Berg", "de la Cruz", "Al-Sayed",
]
CITIES = [
    "Lisbon", "Nairobi", "Osaka", "Denver", "Krakow", "San Diego", "Buenos Aires", "New York",
    "Rio de Janeiro", "Kuala Lumpur", "Cape Town", "Ho Chi Minh City", "Toronto", "Seattle",
    "Porto", "Lyon", "Munich", "Dublin", "Oslo", "Seoul", "Lagos", "Accra", "Austin", "Boston",
    "Chicago", "Madrid", "Manchester", "Melbourne", "Mumbai", "Cairo", "Istanbul",
    "Mexico City", "Tel Aviv", "Hong Kong", "Salt Lake City", "Valencia", "Gdansk", "Bergen",
    "Leeds", "Kyoto", "Hamburg", "Zurich", "Las Vegas", "St. Louis", "Vienna", "Prague",
    "Bogota", "Lima", "Santiago", "Auckland", "Perth", "Vancouver", "Montreal", "Calgary",
    "Atlanta", "Phoenix", "Miami", "Glasgow", "Bristol", "Antwerp", "Rotterdam", "Marseille",
    "Turin", "Naples", "Seville", "Bilbao", "Athens", "Helsinki", "Tallinn", "Riga", "Vilnius",
    "Warsaw", "Budapest", "Bucharest", "Sofia", "Ankara", "Dubai", "Doha", "Karachi", "Dhaka",
    "Chennai", "Jakarta", "Manila", "Taipei", "Busan", "Sapporo", "New Orleans",
    "San Francisco", "Abu Dhabi", "Addis Ababa", "Dar es Salaam", "Port Elizabeth",
]
ORGANIZATIONS = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Cyberdyne", "Tyrell", "Wonka", "Nakatomi", "Oscorp", "Aperture", "Blue Harbor",
    "Northwind", "Contoso", "Fabrikam", "Pied Piper", "Massive Dynamic", "Monarch",
    "Dunder Mifflin", "Sterling Cooper", "Bluth", "Zenith", "Orbital", "Helios", "Quantum",
    "Redwood", "Silverline", "Ironclad", "Brightwave", "Nordic Rail", "Kestrel", "Lumen",
    "Vertex", "Pinecrest", "Bluebird", "Solaris", "Granite Peak", "Meridian", "Atlas",
    "Nimbus", "Crescent", "Harbor Point", "Evergreen", "Falcon", "Summit", "Cobalt",
    "Riverstone", "Polaris", "Oakridge", "Sunbeam", "Tidewater", "Copperleaf", "Greenfield",
    "Starling", "Westbrook", "Arcadia",
]
ORGANIZATION_SUFFIXES = ["", "", "Corp", "Inc", "Labs", "Group", "Bank", "Airlines",
                         "Systems", "Logistics", "Energy", "Holdings", "Telecom"]

TEMPLATES = [
    "{person} was named chief executive of {org} on Tuesday.",
    "{org} will open a new office in {city} next spring.",
    "Shares of {org} fell 4% after {person} resigned.",
    "Mayor {person} of {city} announced a new transit plan.",
    "Heavy rain flooded several streets in {city} overnight.",
    "{org} and {org2} agreed to merge in a deal worth $2 billion.",
    "{person} will speak at the {city} Tech Summit on Friday.",
    "The festival in {city} drew record crowds this weekend.",
    "{person}, a spokesperson for {org}, declined to comment.",
    "{org} reported record quarterly revenue.",
    "Analysts expect {org} to cut 300 jobs in {city}.",
    "{person} met {person2} in {city} to discuss the trade agreement.",
    "Flights between {city} and {city2} were cancelled because of the storm.",
    "The board of {org} approved the plan on Monday.",
    "{person} won the marathon in {city} with a time of 2:08:13.",
    "Interest rates were left unchanged, the Central Bank said on Thursday.",
    "Markets closed higher on Wednesday as Tech stocks rallied.",
    "A new study links sleep quality to heart health.",
    "According to {person}, {org} has no plans to leave {city}.",
    "Hi, my name is {person} and I can't log in to my account.",
    "Order #{number} shipped from {city} but never arrived.",
    "Please escalate this to {person} in the {city} office.",
    "I was charged twice by {org} for the same subscription.",
    "Hello Support, the app crashes every time I open Settings.",
    "Can someone from {org} call me back? Thanks, {person}",
    "My package has been stuck in {city} since Monday.",
    "The invoice from {org} lists the wrong address in {city}.",
    "{person} from {org} promised me a refund last week.",
    "Password reset emails are not arriving in my Inbox.",
    "Wi-Fi keeps dropping on the Premium plan, please help!!",
    "Please transfer my account to {person}, effective immediately.",
    "Technician {person} missed the appointment in {city} twice.",
    "Our team at {org} needs 5 more licenses before Friday.",
    "Ticket {number}: VPN fails for everyone in the {city} branch.",
    "I moved from {city} to {city2}, please update my billing address.",
    "Thanks to {person} and {person2} for fixing the outage so quickly.",
]
PREFIXES = ["RE: ", "Fwd: ", "URGENT - ", "Breaking: ", "Update: "]
SLOT = re.compile(r"\{(\w+)\}")
HELD_OUT_EVERY = 4
"""Every 4th name of each pool only appears in validation and test rows."""


def entities_export(model_id: str, model_run_id: str, *, base_url: str = "",
                    count: int = 600, seed: int = 0) -> SampleExport:
    """``count`` inline-text rows; ``base_url`` is unused (the texts are inline)."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for index in range(count):
        split = split_of(index, count)
        text, spans = _sentence(rng, held_out=split != "training")
        objects = [text_entity(feature, text, start, end) for feature, start, end in spans]
        rows.append(export_row(
            model_id, model_run_id, data_row_id=f"ner-{index:04d}",
            global_key=f"ticket-{index:04d}.txt", row_data=text, split=split,
            objects=objects, labelled=rng.random() >= 0.1,
            media={"mime_type": "text/plain"},
        ))
    return SampleExport(rows)


def _sentence(rng: random.Random, *, held_out: bool) -> tuple[str, list[tuple[str, int, int]]]:
    """A text and its entities as (class, start, INCLUSIVE end)."""
    template = rng.choice(TEMPLATES)
    text = rng.choice(PREFIXES) if rng.random() < 0.15 else ""
    spans: list[tuple[str, int, int]] = []
    used: set[str] = set()
    position = 0
    for match in SLOT.finditer(template):
        text += template[position:match.start()]
        position = match.end()
        slot = match.group(1)
        if slot == "number":
            text += str(rng.randint(1000, 99999))
            continue
        value = _name(rng, SLOT_CLASSES[slot], held_out, used)
        spans.append((SLOT_CLASSES[slot], len(text), len(text) + len(value) - 1))
        text += value
    text += template[position:]
    if rng.random() < 0.1:
        text, spans = _double_a_space(rng, text, spans)
    if rng.random() < 0.1:
        text += "\n"
    return text, spans


def _name(rng: random.Random, entity_class: str, held_out: bool, used: set[str]) -> str:
    while True:
        if entity_class == "person":
            first, last = _pick(rng, FIRST_NAMES, held_out), _pick(rng, LAST_NAMES, held_out)
            shape = rng.random()
            name = first if shape < 0.15 else last if shape < 0.25 else f"{first} {last}"
            if rng.random() < 0.03:
                name = name.lower()
        elif entity_class == "city":
            name = _pick(rng, CITIES, held_out)
        else:
            name = f"{_pick(rng, ORGANIZATIONS, held_out)} {rng.choice(ORGANIZATION_SUFFIXES)}"
            name = name.strip()
        if name not in used:
            used.add(name)
            return name


def _pick(rng: random.Random, pool: list[str], held_out: bool) -> str:
    return rng.choice([name for i, name in enumerate(pool)
                       if (i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1) == held_out])


def _double_a_space(rng: random.Random, text: str, spans: list[tuple[str, int, int]]
                    ) -> tuple[str, list[tuple[str, int, int]]]:
    """A doubled space somewhere outside the entities, shifting the spans after it."""
    inside = {i for _, start, end in spans for i in range(start, end + 1)}
    gaps = [i for i, c in enumerate(text) if c == " " and i not in inside]
    if not gaps:
        return text, spans
    at = rng.choice(gaps)
    shifted = [(c, s + (s > at), e + (e > at)) for c, s, e in spans]
    return text[:at] + " " + text[at:], shifted
