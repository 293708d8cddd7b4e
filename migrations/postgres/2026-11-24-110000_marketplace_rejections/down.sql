DROP TABLE marketplace_rejections;
