-- The baseline's one table: a referral as a JSON document.
CREATE TABLE referrals (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  body jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
