-- Expand: the new column, nullable; this release writes both and reads display_name, falling back to name.
ALTER TABLE "users" ADD COLUMN "display_name" text;--> statement-breakpoint
UPDATE "users" SET "display_name" = "name" WHERE "display_name" IS NULL;
