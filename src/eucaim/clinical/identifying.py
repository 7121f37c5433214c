"""Recognise columns that identify a person (names, addresses, phones, national IDs, birth dates).

Matching is on the folded column name (case, spaces and punctuation ignored) against words used
by hospital exports in the languages of EUCAIM's data holders. A match refuses the column unless
the mapping file removes it or maps it to a field that may hold identifying input.
"""

from __future__ import annotations

import re

from eucaim.clinical.schema import normalise_name

# category -> folded name fragments; a fragment matches anywhere in the folded column name.
_FRAGMENTS: dict[str, tuple[str, ...]] = {
    "name": (
        "firstname",
        "lastname",
        "surname",
        "fullname",
        "givenname",
        "familyname",
        "patientname",
        "maidenname",
        "nombre",
        "apellido",
        "prenom",
        "nomdefamille",
        "vorname",
        "nachname",
        "cognome",
        "achternaam",
        "voornaam",
        "sobrenome",
        "nazwisko",
    ),
    "address": (
        "address",
        "street",
        "postcode",
        "postalcode",
        "zipcode",
        "direccion",
        "domicilio",
        "codigopostal",
        "adresse",
        "strasse",
        "indirizzo",
        "morada",
        "endereco",
    ),
    "phone": ("phone", "mobile", "telefon", "telefono", "telephone", "movil", "cellulare"),
    "email": ("email", "correo"),
    "national-id": (
        "nationalid",
        "socialsecurity",
        "passport",
        "nhsnumber",
        "insurancenumber",
        "tarjetasanitaria",
        "codicefiscale",
        "burgerservice",
        "versichertennummer",
        "personnummer",
    ),
    "medical-record": ("medicalrecord", "historiaclinica", "numerohistoria", "accession"),
    "birth-date": (
        "birthdate",
        "dateofbirth",
        "birthday",
        "fechanacimiento",
        "fechadenacimiento",
        "geburtsdatum",
        "datadinascita",
        "datedenaissance",
        "geboortedatum",
        "datanascimento",
    ),
}
# Short words identify only as a whole word of the name (``Patient DNI``, not ``unified``), and
# generic ones only as the whole name (``name``, but not ``protocol name``).
_TOKENS: dict[str, frozenset[str]] = {
    "name": frozenset({"nom", "imie"}),
    "address": frozenset({"calle", "adres", "zip", "plz"}),
    "phone": frozenset({"tel", "fax", "tlf", "gsm"}),
    "email": frozenset({"mail"}),
    "national-id": frozenset(
        {"ssn", "dni", "nif", "nie", "nuss", "cip", "bsn", "pesel", "amka", "niss", "cpr", "nir"}
    ),
    "medical-record": frozenset({"mrn", "nhc", "nhist"}),
    "birth-date": frozenset({"dob", "fnac"}),
}
_WHOLE_NAMES: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "names", "naam", "nome", "patient", "paciente"}),
    "address": frozenset({"city", "ciudad", "town", "cp", "ville", "ort", "localidad", "municipio"}),
}


def _tokens(column: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column)
    return {normalise_name(t) for t in re.split(r"[\s_\-./()]+", spaced) if normalise_name(t)}


def identifying_category(column: str) -> str | None:
    """Return why a column name looks identifying (``name``, ``birth-date``, ...), or ``None``."""
    folded = normalise_name(column)
    tokens = _tokens(column)
    for category, names in _WHOLE_NAMES.items():
        if folded in names:
            return category
    for category, fragments in _FRAGMENTS.items():
        if any(fragment in folded for fragment in fragments):
            return category
    for category, words in _TOKENS.items():
        if tokens & words:
            return category
    return None
