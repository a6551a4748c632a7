"""Each language's name for itself, as a language picker shows it.

Kept apart from the messages: a language can be named here before anything
is translated into it, and its name is the same in every language.
"""

ENDONYMS: dict[str, str] = {
    "en": "English",
    "cy": "Cymraeg",
    "ga": "Gaeilge",
    "gd": "Gàidhlig",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "pl": "Polski",
}
