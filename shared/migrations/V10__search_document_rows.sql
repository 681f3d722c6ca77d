-- A common word matches tens of thousands of documents, and counting and ordering them visits
-- each one's row. The text and its tsvector are kilobytes; with the default target, rows keep
-- them inline (compressed) up to about 2 KB, so those visits read most of the table's pages.
-- A target of 128 bytes moves both out of line, leaving rows of the key, version, organization
-- and age: a quarter of the pages to visit (README "Search"). Only rows written from now on
-- follow a new target, so every existing row is written once again.
ALTER TABLE file_search_text SET (toast_tuple_target = 128);
UPDATE file_search_text SET version = version;
