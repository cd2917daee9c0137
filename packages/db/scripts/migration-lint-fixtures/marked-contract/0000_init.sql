CREATE TABLE "users" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text
);
