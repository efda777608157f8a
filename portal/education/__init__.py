"""Education: lessons defined in `education/`, their catalogue records, notebook previews and sample packs."""
