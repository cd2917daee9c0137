-- Contract, one release later: no running release reads "name" any more.
-- genz:contract-step since=0001_expand-display-name
ALTER TABLE "users" DROP COLUMN "name";--> statement-breakpoint
-- genz:contract-step since=0001
ALTER TABLE "users" ALTER COLUMN "display_name" SET NOT NULL;
