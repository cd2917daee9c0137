-- The previous release still selects "legacy": dropping it in the same release breaks its pods mid-rollout.
ALTER TABLE "users" DROP COLUMN "legacy";
