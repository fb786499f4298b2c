-- The organization's own practice names ("Oak Hill Family Medicine"), managed by its admins. They
-- are removed from a subject before the detector reads it, like CLINIC_NAME: the clinic's own
-- words are not evidence about the patient. Each passed the practice-name check when it was
-- added. `normalized` (case-folded, spaces collapsed) keeps one entry per name.
CREATE TABLE practice_names (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    normalized      text NOT NULL,
    created_by      uuid NOT NULL REFERENCES api_keys (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, normalized)
);
