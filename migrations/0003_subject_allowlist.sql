-- Approved generic subjects, managed by admins. `normalized` (case-folded, spaces collapsed) is
-- what sends are matched against; each entry passed the subject detector when it was added.
CREATE TABLE approved_subjects (
    id         uuid PRIMARY KEY,
    subject    text NOT NULL,
    normalized text NOT NULL UNIQUE,
    created_by uuid NOT NULL REFERENCES api_keys (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
