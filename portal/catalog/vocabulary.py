"""The controlled vocabularies: resource types (each mapped once to every export format) and relation types.

Every export (DataCite, CSL, schema.org, BibTeX, Dublin Core) reads its type from :func:`resource_type`,
so a type is mapped in exactly one place. The deposit profile's enums
(`schemas/record-v1-deposit.json`) are kept equal to these tables by a test; the import profile
(`schemas/record-v1.json`) constrains none of them, as CERN Open Data's own `record-v1.0.0` does not, so
a value missing here still loads and exports through the fallbacks below.

The CERN values are those its published records use (`cernopendata/opendata.cern.ch`, `data/records/`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ResourceType:
    primary: str
    subtypes: tuple[str, ...]
    datacite: str  # DataCite resourceTypeGeneral
    csl: str
    schema_org: str
    bibtex: str
    dublin_core: str


RESOURCE_TYPES: dict[str, ResourceType] = {
    t.primary: t
    for t in (
        ResourceType(
            "Dataset", ("Collision", "Simulated", "Derived"), "Dataset", "dataset", "Dataset", "misc", "Dataset"
        ),
        ResourceType(
            "Software",
            ("Analysis", "Tool", "Workflow", "Framework", "Validation"),
            "Software",
            "software",
            "SoftwareSourceCode",
            "software",
            "Software",
        ),
        ResourceType(
            "Environment",
            ("Image", "VM", "Condition", "Validation"),
            "ComputationalNotebook",
            "software",
            "SoftwareApplication",
            "software",
            "Software",
        ),
        ResourceType(
            "Lesson",
            ("Notebook", "Exercise", "Masterclass", "Course"),
            "InteractiveResource",
            "document",
            "LearningResource",
            "misc",
            "InteractiveResource",
        ),
        ResourceType(
            "Documentation",
            ("Guide", "Help", "Activities", "Authors", "Policy", "Report", "About"),
            "Text",
            "report",
            "CreativeWork",
            "techreport",
            "Text",
        ),
        ResourceType(
            "Article",
            ("Journal", "Preprint", "Proceedings", "Thesis"),
            "JournalArticle",
            "article-journal",
            "ScholarlyArticle",
            "article",
            "Text",
        ),
        ResourceType(
            "Image",
            ("Figure", "Plot", "Diagram", "Photo", "Event display"),
            "Image",
            "graphic",
            "ImageObject",
            "misc",
            "Image",
        ),
        ResourceType(
            "Video",
            ("Lecture", "Tutorial", "Outreach"),
            "Audiovisual",
            "motion_picture",
            "VideoObject",
            "misc",
            "MovingImage",
        ),
        ResourceType("Poster", (), "Text", "graphic", "Poster", "misc", "Text"),
        ResourceType("Presentation", (), "Text", "speech", "PresentationDigitalDocument", "misc", "Text"),
        # CERN Open Data's type for triggers, configurations, experiment notes and the like.
        ResourceType(
            "Supplementaries",
            (
                "Trigger",
                "Configuration",
                "Configuration HLT",
                "Configuration LHE",
                "Configuration RECO",
                "Configuration SIM",
                "Luminosity",
                "Computing Note",
                "Correction",
                "Logbook",
                "Manual",
            ),
            "Other",
            "document",
            "CreativeWork",
            "misc",
            "Text",
        ),
    )
}

# How a type no table names (loaded from a catalogue with types of its own) is exported.
_OTHER = ResourceType("Other", (), "Other", "document", "CreativeWork", "misc", "Text")


def resource_type(primary: str) -> ResourceType:
    """The export mapping of ``primary``; a type outside :data:`RESOURCE_TYPES` exports as DataCite Other."""
    known = RESOURCE_TYPES.get(primary)
    if known is not None:
        return known
    return replace(_OTHER, primary=primary)


# DataCite (kernel 4.5) relation types, written in lower camel case as CERN Open Data writes its relations,
# each with its inverse. Our relations are stored in this spelling; exports write DataCite's capitalisation.
_DATACITE_PAIRS: tuple[tuple[str, str], ...] = (
    ("isCitedBy", "cites"),
    ("isSupplementTo", "isSupplementedBy"),
    ("isContinuedBy", "continues"),
    ("isDescribedBy", "describes"),
    ("hasMetadata", "isMetadataFor"),
    ("hasVersion", "isVersionOf"),
    ("isNewVersionOf", "isPreviousVersionOf"),
    ("isPartOf", "hasPart"),
    ("isPublishedIn", "publishes"),  # "publishes" has no DataCite twin; see DATACITE_ONLY below
    ("isReferencedBy", "references"),
    ("isDocumentedBy", "documents"),
    ("isCompiledBy", "compiles"),
    ("isVariantFormOf", "isOriginalFormOf"),
    ("isIdenticalTo", "isIdenticalTo"),
    ("isReviewedBy", "reviews"),
    ("isDerivedFrom", "isSourceOf"),
    ("isRequiredBy", "requires"),
    ("isObsoletedBy", "obsoletes"),
    ("isCollectedBy", "collects"),
    ("isTranslationOf", "hasTranslation"),
)

INVERSE: dict[str, str] = {}
for _a, _b in _DATACITE_PAIRS:
    INVERSE[_a] = _b
    INVERSE[_b] = _a

# Types DataCite defines; "publishes" is only our inverse of isPublishedIn and exports as References.
DATACITE_RELATION_TYPES: tuple[str, ...] = tuple(sorted(t for t in INVERSE if t != "publishes"))

# CERN Open Data's own relation types, kept so its records load; each maps to a DataCite type for exports.
LEGACY_RELATIONS: dict[str, str] = {
    "isChildOf": "isPartOf",
    "isParentOf": "hasPart",
    "isSiblingOf": "references",
    "isRelatedTo": "references",
    "isProducedBy": "isDerivedFrom",
}
INVERSE.update(
    {
        "isChildOf": "isParentOf",
        "isParentOf": "isChildOf",
        "isSiblingOf": "isSiblingOf",
        "isRelatedTo": "isRelatedTo",
        "isProducedBy": "isSourceOf",
    }
)

RELATION_TYPES: tuple[str, ...] = tuple(sorted(set(INVERSE) | set(LEGACY_RELATIONS)))


def datacite_relation(relation_type: str) -> str:
    """DataCite's spelling (UpperCamel) of a stored relation type, mapping legacy types first.

    A type neither DataCite nor CERN defines (the import profile accepts any) exports as References,
    the weakest statement DataCite has, as CERN's own `isRelatedTo` does.
    """
    mapped = LEGACY_RELATIONS.get(relation_type, relation_type)
    if mapped == "publishes" or mapped not in INVERSE:
        mapped = "references"
    return mapped[0].upper() + mapped[1:]


def inverse_relation(relation_type: str) -> str:
    """The relation seen from the other side (isDerivedFrom -> isSourceOf)."""
    return INVERSE[relation_type]
