#!/usr/bin/env python3
"""Build src/sqlgrpo/data/embedded_sample.jsonl, the small text-to-SQL sample shipped in the package.

Everything below was written by hand for sqlgrpo: schemas, rows, questions, gold SQL and
explanations. The records follow the field layout of `gretelai/synthetic_text_to_sql` (id,
domain, domain_description, sql_complexity, sql_complexity_description, sql_task_type,
sql_prompt, sql_context, sql, sql_explanation) so the sample can stand in for that dataset.

Every gold query runs unchanged on SQLite and DuckDB (portable SQL only); the checks live in
tools/check_embedded_sample.py. The output is deterministic: schemas and questions are written
in the order they appear here and ids are assigned 1..N in that order.

Usage: python tools/build_embedded_sample.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "sqlgrpo" / "data" / "embedded_sample.jsonl"

# sql_complexity labels (exactly the strings used by the public dataset)
B = "basic SQL"
AGG = "aggregation"
J1 = "single join"
JN = "multiple_joins"
SUB = "subqueries"
WIN = "window functions"
CTE = "CTEs"
SET = "set operations"
# sql_task_type labels
AR = "analytics and reporting"
DR = "data retrieval"
DM = "data manipulation"


def ctx(text: str) -> str:
    """Join a multi-line context block into the one-line form used by the dataset."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


SCHEMAS: list[dict] = []

# ----------------------------------------------------------------------------- healthcare
SCHEMAS.append(dict(
    domain="healthcare",
    description="Outpatient clinic records of doctors, patients and the appointments between them.",
    context=ctx("""
CREATE TABLE doctors (doctor_id INTEGER PRIMARY KEY, name TEXT, specialty TEXT, hire_date TEXT);
CREATE TABLE patients (patient_id INTEGER PRIMARY KEY, name TEXT, birth_date TEXT, city TEXT, insurance_provider TEXT);
CREATE TABLE appointments (appointment_id INTEGER PRIMARY KEY, patient_id INTEGER, doctor_id INTEGER, appointment_date TEXT, fee REAL, diagnosis TEXT);
INSERT INTO doctors (doctor_id, name, specialty, hire_date) VALUES
(1, 'Dr. Amelia Hart', 'Cardiology', '2015-03-01'),
(2, 'Dr. Rajesh Patel', 'Pediatrics', '2018-07-15'),
(3, 'Dr. Sofia Moreno', 'Dermatology', '2020-01-10'),
(4, 'Dr. Kenji Watanabe', 'Cardiology', '2012-11-20'),
(5, 'Dr. Leah Goldberg', 'Neurology', '2019-05-05'),
(6, 'Dr. Marcus Oyelaran', 'Orthopedics', '2021-09-01');
INSERT INTO patients (patient_id, name, birth_date, city, insurance_provider) VALUES
(1, 'Emma Lindqvist', '1985-04-12', 'Boston', 'BlueShield'),
(2, 'Carlos Mendes', '1992-09-30', 'Cambridge', 'Aetna'),
(3, 'Priya Nair', '1978-01-22', 'Boston', NULL),
(4, 'Tom Becker', '2010-06-05', 'Somerville', 'BlueShield'),
(5, 'Grace Okafor', '1969-11-17', 'Boston', 'Medicare'),
(6, 'Liam O''Brien', '2001-02-28', 'Quincy', 'Aetna'),
(7, 'Hana Kim', '2015-08-09', 'Cambridge', 'BlueShield'),
(8, 'Omar Haddad', '1958-12-03', 'Quincy', NULL);
INSERT INTO appointments (appointment_id, patient_id, doctor_id, appointment_date, fee, diagnosis) VALUES
(1, 1, 1, '2023-01-10', 250.0, 'Hypertension'),
(2, 2, 3, '2023-01-12', 180.0, 'Eczema'),
(3, 4, 2, '2023-01-15', 120.0, 'Asthma'),
(4, 5, 4, '2023-02-02', 300.0, 'Arrhythmia'),
(5, 3, 5, '2023-02-08', 275.0, 'Migraine'),
(6, 7, 2, '2023-02-20', 120.0, NULL),
(7, 1, 1, '2023-03-05', 250.0, 'Hypertension'),
(8, 8, 4, '2023-03-11', 310.0, 'Heart failure'),
(9, 6, 3, '2023-03-18', 150.0, 'Acne'),
(10, 5, 1, '2023-04-01', 260.0, 'Hypertension'),
(11, 2, 5, '2023-04-09', 290.0, NULL),
(12, 4, 2, '2023-04-22', 135.0, 'Asthma');
"""),
    queries=[
        (B, DR, "List the names and cities of patients who have no insurance provider on record.",
         "SELECT name, city FROM patients WHERE insurance_provider IS NULL;",
         "Selects the name and city of patients whose insurance_provider is NULL."),
        (B, DM, "Change the fee of appointment 6 to 130.",
         "UPDATE appointments SET fee = 130.0 WHERE appointment_id = 6;",
         "Updates the fee column of the appointment with appointment_id 6."),
        (B, DM, "Add Dr. Ines Duarte, an Oncology specialist hired on 2024-02-01, as doctor 7.",
         "INSERT INTO doctors (doctor_id, name, specialty, hire_date) VALUES (7, 'Dr. Ines Duarte', 'Oncology', '2024-02-01');",
         "Inserts one new row into the doctors table."),
        (AGG, AR, "What is the total fee billed in each month of 2023?",
         "SELECT SUBSTR(appointment_date, 1, 7) AS appt_month, SUM(fee) AS total_fees FROM appointments GROUP BY SUBSTR(appointment_date, 1, 7);",
         "Groups appointments by the year-month prefix of the date and sums the fees of each month."),
        (AGG, AR, "Which diagnoses were recorded more than once, and how many times each?",
         "SELECT diagnosis, COUNT(*) AS times_recorded FROM appointments WHERE diagnosis IS NOT NULL GROUP BY diagnosis HAVING COUNT(*) > 1;",
         "Counts appointments per non-null diagnosis and keeps the diagnoses that occur more than once."),
        (J1, DR, "Show the appointment date and doctor name for every appointment with a cardiologist.",
         "SELECT a.appointment_date, d.name FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id WHERE d.specialty = 'Cardiology';",
         "Joins appointments to doctors and keeps the rows whose doctor specialty is Cardiology."),
        (J1, AR, "What is the average appointment fee for each doctor specialty, rounded to 2 decimals?",
         "SELECT d.specialty, ROUND(AVG(a.fee), 2) AS avg_fee FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id GROUP BY d.specialty;",
         "Joins appointments with doctors and averages the fee per specialty."),
        (JN, DR, "List the patient name, doctor name and date of every appointment for patients who live in Boston.",
         "SELECT p.name AS patient_name, d.name AS doctor_name, a.appointment_date FROM appointments a JOIN patients p ON a.patient_id = p.patient_id JOIN doctors d ON a.doctor_id = d.doctor_id WHERE p.city = 'Boston';",
         "Joins appointments to both patients and doctors and filters on the patient's city."),
        (JN, AR, "How much has each insurance provider been billed in total for Cardiology appointments? Ignore patients without a provider.",
         "SELECT p.insurance_provider, SUM(a.fee) AS total_billed FROM appointments a JOIN patients p ON a.patient_id = p.patient_id JOIN doctors d ON a.doctor_id = d.doctor_id WHERE d.specialty = 'Cardiology' AND p.insurance_provider IS NOT NULL GROUP BY p.insurance_provider;",
         "Joins appointments to patients and doctors, keeps Cardiology visits of insured patients, and sums fees per provider."),
        (SUB, DR, "Which doctors have never had an appointment?",
         "SELECT name FROM doctors WHERE doctor_id NOT IN (SELECT doctor_id FROM appointments);",
         "Returns doctors whose id does not appear in the doctor_id column of appointments."),
        (SUB, DR, "Find the appointments whose fee is above the average appointment fee.",
         "SELECT appointment_id, fee FROM appointments WHERE fee > (SELECT AVG(fee) FROM appointments);",
         "Compares each fee with the overall average computed by a scalar subquery."),
        (SUB, DM, "Delete all appointments held with Dermatology doctors.",
         "DELETE FROM appointments WHERE doctor_id IN (SELECT doctor_id FROM doctors WHERE specialty = 'Dermatology');",
         "Deletes appointments whose doctor_id belongs to a doctor with the Dermatology specialty."),
        (WIN, DR, "For each patient, show every appointment date together with the date of that patient's previous appointment.",
         "SELECT patient_id, appointment_date, LAG(appointment_date) OVER (PARTITION BY patient_id ORDER BY appointment_date) AS previous_date FROM appointments;",
         "Uses LAG partitioned by patient and ordered by date to fetch the preceding appointment date."),
        (WIN, AR, "Show a running total of appointment fees in date order.",
         "SELECT appointment_date, fee, SUM(fee) OVER (ORDER BY appointment_date) AS running_total FROM appointments;",
         "Computes a cumulative sum of fees ordered by appointment date with SUM() OVER."),
        (CTE, AR, "Which patients have spent more than 400 in total on appointments? Show their names and totals.",
         "WITH spend AS (SELECT patient_id, SUM(fee) AS total_spent FROM appointments GROUP BY patient_id) SELECT p.name, s.total_spent FROM spend s JOIN patients p ON p.patient_id = s.patient_id WHERE s.total_spent > 400;",
         "A CTE totals fees per patient; the main query joins it to patients and keeps totals above 400."),
        (SET, DR, "Which patients (by id) had an appointment in January 2023 but none in April 2023?",
         "SELECT patient_id FROM appointments WHERE appointment_date BETWEEN '2023-01-01' AND '2023-01-31' EXCEPT SELECT patient_id FROM appointments WHERE appointment_date BETWEEN '2023-04-01' AND '2023-04-30';",
         "Takes the patients seen in January and removes, with EXCEPT, those seen in April."),
        (SET, DR, "List every person name in the clinic directory, doctors and patients together, without duplicates.",
         "SELECT name FROM doctors UNION SELECT name FROM patients;",
         "Combines doctor and patient names with UNION, which removes duplicates."),
    ],
))

# ----------------------------------------------------------------------------- retail
SCHEMAS.append(dict(
    domain="retail",
    description="An outdoor-gear store's customers, product catalog and orders.",
    context=ctx("""
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT, city TEXT, signup_date TEXT);
CREATE TABLE products (product_id INTEGER PRIMARY KEY, product_name TEXT, category TEXT, unit_price REAL, stock_qty INTEGER);
CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, product_id INTEGER, quantity INTEGER, order_date TEXT, status TEXT);
INSERT INTO customers (customer_id, first_name, last_name, email, city, signup_date) VALUES
(1, 'Olivia', 'Brooks', 'olivia.brooks@example.com', 'Denver', '2021-05-14'),
(2, 'Mateo', 'Alvarez', NULL, 'Austin', '2022-01-09'),
(3, 'Chloe', 'Nguyen', 'chloe.n@example.com', 'Seattle', '2020-11-30'),
(4, 'Ethan', 'Schwartz', 'ethan.s@example.com', 'Denver', '2022-07-21'),
(5, 'Aisha', 'Rahman', 'aisha.r@example.com', 'Portland', '2023-02-02'),
(6, 'Lucas', 'Ferreira', NULL, 'Austin', '2021-09-18'),
(7, 'Mia', 'Kowalski', 'mia.k@example.com', 'Seattle', '2023-06-11'),
(8, 'Noah', 'Adeyemi', 'noah.a@example.com', 'Boise', '2023-08-25');
INSERT INTO products (product_id, product_name, category, unit_price, stock_qty) VALUES
(1, 'Trail Running Shoes', 'Footwear', 129.99, 40),
(2, 'Merino Wool Socks', 'Apparel', 18.5, 200),
(3, 'Insulated Water Bottle', 'Accessories', 34.95, 75),
(4, 'Rain Shell Jacket', 'Apparel', 189.0, 15),
(5, 'Hiking Boots', 'Footwear', 219.95, 0),
(6, 'Headlamp', 'Accessories', 45.0, 60),
(7, 'Trekking Poles', 'Accessories', 89.99, 25),
(8, 'Fleece Pullover', 'Apparel', 74.25, NULL);
INSERT INTO orders (order_id, customer_id, product_id, quantity, order_date, status) VALUES
(1, 1, 1, 1, '2023-03-02', 'delivered'),
(2, 1, 2, 3, '2023-03-02', 'delivered'),
(3, 2, 4, 1, '2023-03-15', 'delivered'),
(4, 3, 3, 2, '2023-04-01', 'shipped'),
(5, 3, 6, 1, '2023-04-01', 'shipped'),
(6, 4, 7, 2, '2023-04-18', 'cancelled'),
(7, 5, 2, 6, '2023-05-05', 'delivered'),
(8, 6, 1, 1, '2023-05-20', 'returned'),
(9, 7, 8, 2, '2023-06-14', 'pending'),
(10, 3, 1, 1, '2023-06-30', 'delivered'),
(11, 4, 3, 1, '2023-07-08', NULL),
(12, 2, 6, 2, '2023-07-19', 'delivered');
"""),
    queries=[
        (B, DR, "Which products are currently out of stock?",
         "SELECT product_name FROM products WHERE stock_qty = 0;",
         "Selects products whose stock quantity is zero."),
        (B, DR, "What are the three most expensive products?",
         "SELECT product_name, unit_price FROM products ORDER BY unit_price DESC LIMIT 3;",
         "Sorts products by price in descending order and keeps the first three."),
        (B, DR, "List the first and last names of customers who signed up in 2023.",
         "SELECT first_name, last_name FROM customers WHERE signup_date >= '2023-01-01' AND signup_date <= '2023-12-31';",
         "Filters customers on a signup_date inside the year 2023 using string comparison of ISO dates."),
        (B, DM, "Raise the price of every Footwear product by 10.",
         "UPDATE products SET unit_price = unit_price + 10 WHERE category = 'Footwear';",
         "Adds 10 to unit_price for all rows in the Footwear category."),
        (B, DM, "Delete the orders that were cancelled.",
         "DELETE FROM orders WHERE status = 'cancelled';",
         "Removes rows of the orders table whose status is cancelled."),
        (AGG, AR, "How many units were ordered for each order status? Skip orders without a status.",
         "SELECT status, SUM(quantity) AS units FROM orders WHERE status IS NOT NULL GROUP BY status;",
         "Sums quantity per status after excluding orders whose status is NULL."),
        (AGG, AR, "What is the average unit price in each product category, rounded to two decimals?",
         "SELECT category, ROUND(AVG(unit_price), 2) AS avg_price FROM products GROUP BY category;",
         "Groups products by category and averages unit_price."),
        (J1, DR, "Show the order id, order date and customer last name for every order that is pending or shipped.",
         "SELECT o.order_id, o.order_date, c.last_name FROM orders o JOIN customers c ON o.customer_id = c.customer_id WHERE o.status IN ('pending', 'shipped');",
         "Joins orders to customers and keeps orders whose status is pending or shipped."),
        (J1, DR, "Which customers have never placed an order? Give first and last name.",
         "SELECT c.first_name, c.last_name FROM customers c LEFT JOIN orders o ON c.customer_id = o.customer_id WHERE o.order_id IS NULL;",
         "A LEFT JOIN keeps all customers; those with no matching order have a NULL order_id."),
        (JN, AR, "What is the revenue (quantity times unit price) of delivered orders per customer city, rounded to 2 decimals?",
         "SELECT c.city, ROUND(SUM(o.quantity * p.unit_price), 2) AS revenue FROM orders o JOIN customers c ON o.customer_id = c.customer_id JOIN products p ON o.product_id = p.product_id WHERE o.status = 'delivered' GROUP BY c.city;",
         "Joins orders to customers and products, keeps delivered orders and sums quantity times price per city."),
        (JN, DR, "List the customer first name, product name and quantity for orders placed in April 2023.",
         "SELECT c.first_name, p.product_name, o.quantity FROM orders o JOIN customers c ON o.customer_id = c.customer_id JOIN products p ON o.product_id = p.product_id WHERE o.order_date BETWEEN '2023-04-01' AND '2023-04-30';",
         "Joins the three tables and restricts order_date to April 2023."),
        (SUB, DR, "Which products cost more than the average product price?",
         "SELECT product_name, unit_price FROM products WHERE unit_price > (SELECT AVG(unit_price) FROM products);",
         "A scalar subquery computes the average price used in the WHERE filter."),
        (SUB, DR, "Which products have never been ordered?",
         "SELECT product_name FROM products WHERE product_id NOT IN (SELECT product_id FROM orders);",
         "Keeps products whose id is absent from the orders table."),
        (SUB, DM, "Mark every order placed by a customer from Austin as archived.",
         "UPDATE orders SET status = 'archived' WHERE customer_id IN (SELECT customer_id FROM customers WHERE city = 'Austin');",
         "Updates the status of orders whose customer is found by a subquery on city Austin."),
        (WIN, DR, "Number each customer's orders from earliest to latest, breaking ties on the same day by order id.",
         "SELECT customer_id, order_id, order_date, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY order_date, order_id) AS order_seq FROM orders;",
         "ROW_NUMBER partitioned by customer and ordered by date then id gives each order its sequence number."),
        (WIN, AR, "Rank products by unit price within each category, most expensive first.",
         "SELECT category, product_name, unit_price, RANK() OVER (PARTITION BY category ORDER BY unit_price DESC) AS price_rank FROM products;",
         "RANK over a partition per category ordered by descending price."),
        (CTE, AR, "Which customers ordered more than 3 units in total? Show their first name and the total.",
         "WITH units AS (SELECT customer_id, SUM(quantity) AS total_units FROM orders GROUP BY customer_id) SELECT c.first_name, u.total_units FROM units u JOIN customers c ON c.customer_id = u.customer_id WHERE u.total_units > 3;",
         "The CTE sums units per customer; the outer query adds the first name and keeps totals above 3."),
        (SET, DR, "Which customer ids have at least one delivered order and also an order with some other recorded status?",
         "SELECT customer_id FROM orders WHERE status = 'delivered' INTERSECT SELECT customer_id FROM orders WHERE status <> 'delivered';",
         "INTERSECT keeps the customers present in both the delivered and the non-delivered sets."),
        (SET, DR, "Which cities have customers who signed up before 2022 but no customer who signed up in 2023?",
         "SELECT city FROM customers WHERE signup_date < '2022-01-01' EXCEPT SELECT city FROM customers WHERE signup_date >= '2023-01-01';",
         "EXCEPT removes the cities with a 2023 signup from the cities with an early signup."),
    ],
))

# ----------------------------------------------------------------------------- aviation
SCHEMAS.append(dict(
    domain="aviation",
    description="Airlines, their aircraft fleet and the flights those aircraft operate.",
    context=ctx("""
CREATE TABLE airlines (airline_id INTEGER PRIMARY KEY, airline_name TEXT, country TEXT, founded_year INTEGER);
CREATE TABLE aircraft (aircraft_id INTEGER PRIMARY KEY, airline_id INTEGER, model TEXT, seat_capacity INTEGER, delivery_date TEXT);
CREATE TABLE flights (flight_id INTEGER PRIMARY KEY, aircraft_id INTEGER, flight_number TEXT, origin TEXT, destination TEXT, departure_date TEXT, passengers INTEGER, delay_minutes INTEGER);
INSERT INTO airlines (airline_id, airline_name, country, founded_year) VALUES
(1, 'Nordic Skyways', 'Norway', 1998),
(2, 'Pacific Crest Air', 'USA', 1985),
(3, 'Andes Connect', 'Chile', 2006),
(4, 'Sahara Wings', 'Morocco', 2011),
(5, 'Maple Leaf Regional', 'Canada', 1979),
(6, 'Lagoon Air', 'Portugal', 2019);
INSERT INTO aircraft (aircraft_id, airline_id, model, seat_capacity, delivery_date) VALUES
(1, 1, 'Airbus A320', 180, '2015-04-10'),
(2, 1, 'Boeing 737-800', 189, '2017-09-22'),
(3, 2, 'Boeing 787-9', 290, '2019-02-14'),
(4, 2, 'Airbus A321', 220, '2016-06-30'),
(5, 3, 'Embraer E190', 100, '2012-11-05'),
(6, 4, 'ATR 72', 70, '2018-03-19'),
(7, 5, 'Bombardier Q400', 78, '2014-08-08'),
(8, 5, 'Airbus A220', 135, NULL);
INSERT INTO flights (flight_id, aircraft_id, flight_number, origin, destination, departure_date, passengers, delay_minutes) VALUES
(1, 1, 'NS101', 'OSL', 'LHR', '2023-06-01', 172, 0),
(2, 2, 'NS220', 'OSL', 'CDG', '2023-06-01', 181, 25),
(3, 3, 'PC900', 'SEA', 'NRT', '2023-06-02', 275, 40),
(4, 4, 'PC312', 'SEA', 'LAX', '2023-06-03', 210, NULL),
(5, 5, 'AC45', 'SCL', 'LIM', '2023-06-03', 88, 15),
(6, 6, 'SW8', 'CMN', 'RAK', '2023-06-04', 52, 0),
(7, 7, 'ML77', 'YYZ', 'YUL', '2023-06-04', 70, 5),
(8, 8, 'ML210', 'YYZ', 'YVR', '2023-06-05', 128, 60),
(9, 1, 'NS102', 'LHR', 'OSL', '2023-06-05', 165, 10),
(10, 3, 'PC901', 'NRT', 'SEA', '2023-06-06', 281, NULL),
(11, 5, 'AC46', 'LIM', 'SCL', '2023-06-07', 95, 30),
(12, 4, 'PC313', 'LAX', 'SEA', '2023-06-08', 204, 0);
"""),
    queries=[
        (B, DR, "Which flights departed from SEA? Show the flight number and destination.",
         "SELECT flight_number, destination FROM flights WHERE origin = 'SEA';",
         "Filters flights on origin SEA."),
        (B, DR, "List the flight numbers of flights with no recorded delay information.",
         "SELECT flight_number FROM flights WHERE delay_minutes IS NULL;",
         "Selects flights whose delay_minutes value is missing."),
        (B, DM, "Record a 20-minute delay for flight PC312.",
         "UPDATE flights SET delay_minutes = 20 WHERE flight_number = 'PC312';",
         "Sets delay_minutes to 20 for the flight with number PC312."),
        (B, DM, "Remove the airline Lagoon Air from the airlines table.",
         "DELETE FROM airlines WHERE airline_name = 'Lagoon Air';",
         "Deletes the row of the airline named Lagoon Air."),
        (AGG, AR, "What is the average delay in minutes per origin airport, rounded to one decimal?",
         "SELECT origin, ROUND(AVG(delay_minutes), 1) AS avg_delay FROM flights GROUP BY origin;",
         "Groups flights by origin and averages delay_minutes (NULL delays are ignored by AVG)."),
        (AGG, AR, "On which departure dates were more than 250 passengers carried in total, and how many?",
         "SELECT departure_date, SUM(passengers) AS total_passengers FROM flights GROUP BY departure_date HAVING SUM(passengers) > 250;",
         "Sums passengers per departure date and keeps dates above 250 with HAVING."),
        (AGG, AR, "Which origin airport had the most departing passengers in total?",
         "SELECT origin, SUM(passengers) AS total_passengers FROM flights GROUP BY origin ORDER BY SUM(passengers) DESC LIMIT 1;",
         "Sums passengers per origin, sorts the totals in descending order and keeps the top one."),
        (J1, DR, "Which aircraft models are operated by Canadian airlines?",
         "SELECT a.model FROM aircraft a JOIN airlines l ON a.airline_id = l.airline_id WHERE l.country = 'Canada';",
         "Joins aircraft with airlines and filters on the airline's country."),
        (J1, AR, "What was the load factor of each flight, i.e. passengers as a percentage of seat capacity, rounded to 1 decimal?",
         "SELECT f.flight_number, ROUND(100.0 * f.passengers / a.seat_capacity, 1) AS load_factor_pct FROM flights f JOIN aircraft a ON f.aircraft_id = a.aircraft_id;",
         "Joins flights to aircraft and divides passengers by seat capacity, multiplying by 100.0 to avoid integer division."),
        (JN, AR, "How many passengers did each airline carry in total?",
         "SELECT l.airline_name, SUM(f.passengers) AS total_passengers FROM flights f JOIN aircraft a ON f.aircraft_id = a.aircraft_id JOIN airlines l ON a.airline_id = l.airline_id GROUP BY l.airline_name;",
         "Joins flights to aircraft and airlines and sums passengers per airline."),
        (JN, DR, "List the flight number, airline name and aircraft model of every flight that was delayed by 30 minutes or more.",
         "SELECT f.flight_number, l.airline_name, a.model FROM flights f JOIN aircraft a ON f.aircraft_id = a.aircraft_id JOIN airlines l ON a.airline_id = l.airline_id WHERE f.delay_minutes >= 30;",
         "Joins the three tables and filters on delay_minutes of at least 30."),
        (SUB, DR, "Which airlines do not operate any aircraft?",
         "SELECT airline_name FROM airlines WHERE airline_id NOT IN (SELECT airline_id FROM aircraft);",
         "Returns airlines whose id never appears in the aircraft table."),
        (SUB, DR, "Which flights carried more passengers than the average flight?",
         "SELECT flight_number, passengers FROM flights WHERE passengers > (SELECT AVG(passengers) FROM flights);",
         "Compares passengers with the average obtained from a scalar subquery."),
        (SUB, DM, "Delete all flights flown by aircraft with fewer than 80 seats.",
         "DELETE FROM flights WHERE aircraft_id IN (SELECT aircraft_id FROM aircraft WHERE seat_capacity < 80);",
         "Deletes flights whose aircraft is found by a subquery on small seat capacity."),
        (WIN, DR, "For each aircraft, show each flight's departure date and the number of passengers on that aircraft's next flight.",
         "SELECT aircraft_id, departure_date, passengers, LEAD(passengers) OVER (PARTITION BY aircraft_id ORDER BY departure_date) AS next_flight_passengers FROM flights;",
         "LEAD looks one flight ahead within the same aircraft ordered by departure date."),
        (WIN, AR, "Dense-rank all flights by number of passengers, highest first.",
         "SELECT flight_number, passengers, DENSE_RANK() OVER (ORDER BY passengers DESC) AS passenger_rank FROM flights;",
         "DENSE_RANK orders flights by passengers descending without gaps in the ranking."),
        (CTE, AR, "What share of all passengers departed from each origin airport, as a percentage rounded to 2 decimals?",
         "WITH totals AS (SELECT origin, SUM(passengers) AS pax FROM flights GROUP BY origin), overall AS (SELECT SUM(pax) AS all_pax FROM totals) SELECT t.origin, ROUND(100.0 * t.pax / o.all_pax, 2) AS share_pct FROM totals t CROSS JOIN overall o;",
         "The first CTE totals passengers per origin, the second the grand total; the final query divides one by the other."),
        (SET, DR, "List every airport code that appears as an origin or as a destination.",
         "SELECT origin AS airport FROM flights UNION SELECT destination FROM flights;",
         "UNION merges origin and destination codes and removes duplicates."),
        (SET, DR, "Which airports are used as an origin but never as a destination?",
         "SELECT origin FROM flights EXCEPT SELECT destination FROM flights;",
         "EXCEPT subtracts destination airports from origin airports."),
    ],
))

# ----------------------------------------------------------------------------- education
SCHEMAS.append(dict(
    domain="education",
    description="A university's students, the courses it offers and course enrollments with grades.",
    context=ctx("""
CREATE TABLE students (student_id INTEGER PRIMARY KEY, full_name TEXT, major TEXT, enrollment_year INTEGER, gpa REAL);
CREATE TABLE courses (course_id INTEGER PRIMARY KEY, course_code TEXT, title TEXT, department TEXT, credits INTEGER);
CREATE TABLE enrollments (enrollment_id INTEGER PRIMARY KEY, student_id INTEGER, course_id INTEGER, term TEXT, grade REAL);
INSERT INTO students (student_id, full_name, major, enrollment_year, gpa) VALUES
(1, 'Isabella Rossi', 'Computer Science', 2021, 3.72),
(2, 'Jamal Carter', 'Mathematics', 2022, 3.15),
(3, 'Yuki Tanaka', 'Physics', 2020, 3.88),
(4, 'Fatima Zahra', 'Computer Science', 2022, 2.94),
(5, 'Henrik Larsen', 'Biology', 2021, NULL),
(6, 'Ana Souza', 'Mathematics', 2023, 3.41),
(7, 'Daniel Cohen', 'Physics', 2022, 3.02),
(8, 'Zoe Martin', 'Biology', 2023, 3.6);
INSERT INTO courses (course_id, course_code, title, department, credits) VALUES
(1, 'CS101', 'Intro to Programming', 'Computer Science', 4),
(2, 'MATH201', 'Linear Algebra', 'Mathematics', 3),
(3, 'PHYS150', 'Classical Mechanics', 'Physics', 4),
(4, 'BIO110', 'Cell Biology', 'Biology', 3),
(5, 'CS240', 'Data Structures', 'Computer Science', 4),
(6, 'HIST105', 'World History', 'History', 2);
INSERT INTO enrollments (enrollment_id, student_id, course_id, term, grade) VALUES
(1, 1, 1, 'Fall 2022', 91.5),
(2, 1, 5, 'Spring 2023', 88.0),
(3, 2, 2, 'Fall 2022', 76.0),
(4, 3, 3, 'Fall 2022', 94.0),
(5, 4, 1, 'Fall 2022', 68.5),
(6, 4, 5, 'Spring 2023', NULL),
(7, 5, 4, 'Spring 2023', 82.0),
(8, 6, 2, 'Spring 2023', 89.5),
(9, 7, 3, 'Fall 2022', 71.0),
(10, 7, 2, 'Spring 2023', NULL),
(11, 8, 4, 'Spring 2023', 90.0),
(12, 3, 2, 'Spring 2023', 85.5);
"""),
    queries=[
        (B, DR, "Which students have a GPA above 3.5? Show their names and GPAs.",
         "SELECT full_name, gpa FROM students WHERE gpa > 3.5;",
         "Filters students on gpa greater than 3.5."),
        (B, DR, "List the Computer Science students who enrolled in 2022.",
         "SELECT full_name FROM students WHERE major = 'Computer Science' AND enrollment_year = 2022;",
         "Combines a filter on major with a filter on enrollment year."),
        (B, DM, "Set Henrik Larsen's GPA to 3.25.",
         "UPDATE students SET gpa = 3.25 WHERE full_name = 'Henrik Larsen';",
         "Updates the gpa of the student named Henrik Larsen."),
        (B, DM, "Enroll student 6 in course 5 for Fall 2023 with no grade yet, as enrollment 13.",
         "INSERT INTO enrollments (enrollment_id, student_id, course_id, term, grade) VALUES (13, 6, 5, 'Fall 2023', NULL);",
         "Inserts a new enrollment row whose grade is NULL because the course has not been graded."),
        (AGG, AR, "How many students are in each major, and what is their average GPA rounded to 2 decimals?",
         "SELECT major, COUNT(*) AS num_students, ROUND(AVG(gpa), 2) AS avg_gpa FROM students GROUP BY major;",
         "Groups students by major, counting them and averaging the non-null GPAs."),
        (AGG, AR, "What are the highest and lowest grades recorded in each term?",
         "SELECT term, MAX(grade) AS top_grade, MIN(grade) AS lowest_grade FROM enrollments GROUP BY term;",
         "Computes MAX and MIN of grade per term; ungraded enrollments are ignored."),
        (J1, DR, "Show the course code and grade of every enrollment in the Fall 2022 term.",
         "SELECT c.course_code, e.grade FROM enrollments e JOIN courses c ON e.course_id = c.course_id WHERE e.term = 'Fall 2022';",
         "Joins enrollments to courses and filters on the term."),
        (J1, AR, "What is the average grade in each department, rounded to 1 decimal?",
         "SELECT c.department, ROUND(AVG(e.grade), 1) AS avg_grade FROM enrollments e JOIN courses c ON e.course_id = c.course_id GROUP BY c.department;",
         "Joins enrollments to courses and averages grades per department."),
        (J1, AR, "Which course has the highest average grade? Show its title and the average.",
         "SELECT c.title, AVG(e.grade) AS avg_grade FROM enrollments e JOIN courses c ON e.course_id = c.course_id GROUP BY c.title ORDER BY AVG(e.grade) DESC LIMIT 1;",
         "Joins enrollments to courses, averages grades per course and keeps the highest average."),
        (JN, DR, "List each student's name with the titles of the courses they took in Spring 2023.",
         "SELECT s.full_name, c.title FROM enrollments e JOIN students s ON e.student_id = s.student_id JOIN courses c ON e.course_id = c.course_id WHERE e.term = 'Spring 2023';",
         "Joins enrollments to students and courses and keeps the Spring 2023 term."),
        (JN, AR, "How many credits has each student enrolled in across all terms?",
         "SELECT s.full_name, SUM(c.credits) AS total_credits FROM enrollments e JOIN students s ON e.student_id = s.student_id JOIN courses c ON e.course_id = c.course_id GROUP BY s.full_name;",
         "Joins the three tables and sums course credits per student."),
        (SUB, DR, "Which courses have no enrollments at all?",
         "SELECT course_code, title FROM courses WHERE course_id NOT IN (SELECT course_id FROM enrollments);",
         "Keeps courses whose id is not found among enrolled course ids."),
        (SUB, DR, "Which enrollments in course 2 have a grade above the average grade of that course?",
         "SELECT enrollment_id, student_id, grade FROM enrollments WHERE course_id = 2 AND grade > (SELECT AVG(grade) FROM enrollments WHERE course_id = 2);",
         "A scalar subquery computes the course 2 average that each course 2 grade is compared with."),
        (SUB, DM, "Delete all enrollments in courses offered by the Biology department.",
         "DELETE FROM enrollments WHERE course_id IN (SELECT course_id FROM courses WHERE department = 'Biology');",
         "Deletes enrollments whose course is returned by a subquery on the Biology department."),
        (WIN, AR, "Rank students with a known GPA by GPA within their major, highest first.",
         "SELECT major, full_name, gpa, RANK() OVER (PARTITION BY major ORDER BY gpa DESC) AS gpa_rank FROM students WHERE gpa IS NOT NULL;",
         "RANK partitioned by major and ordered by GPA descending, over students whose GPA is known."),
        (WIN, AR, "Show each graded enrollment next to the student's average grade over all their courses.",
         "SELECT student_id, course_id, grade, AVG(grade) OVER (PARTITION BY student_id) AS student_avg FROM enrollments WHERE grade IS NOT NULL;",
         "AVG() OVER partitioned by student attaches the per-student average to every graded row."),
        (CTE, AR, "Which students average at least 85 across their graded courses? Show the name and the average rounded to 2 decimals.",
         "WITH avg_grades AS (SELECT student_id, AVG(grade) AS avg_grade FROM enrollments GROUP BY student_id) SELECT s.full_name, ROUND(a.avg_grade, 2) AS avg_grade FROM avg_grades a JOIN students s ON s.student_id = a.student_id WHERE a.avg_grade >= 85;",
         "The CTE averages grades per student; the outer query adds names and keeps averages of 85 or more."),
        (CTE, AR, "How many enrollments does each department have, counting only departments with more than two?",
         "WITH dept_enrollments AS (SELECT c.department, e.enrollment_id FROM enrollments e JOIN courses c ON e.course_id = c.course_id) SELECT department, COUNT(*) AS num_enrollments FROM dept_enrollments GROUP BY department HAVING COUNT(*) > 2;",
         "The CTE pairs each enrollment with its department; the main query counts per department and keeps counts above two."),
        (SET, DR, "Which student ids were enrolled in both Fall 2022 and Spring 2023?",
         "SELECT student_id FROM enrollments WHERE term = 'Fall 2022' INTERSECT SELECT student_id FROM enrollments WHERE term = 'Spring 2023';",
         "INTERSECT returns the students that appear in both terms."),
        (SET, DR, "Give one combined list of the department names used by courses and the majors declared by students.",
         "SELECT department FROM courses UNION SELECT major FROM students;",
         "UNION merges the two name lists and removes duplicates."),
    ],
))

# ----------------------------------------------------------------------------- sports
SCHEMAS.append(dict(
    domain="sports",
    description="A regional football league with teams, players and match results.",
    context=ctx("""
CREATE TABLE teams (team_id INTEGER PRIMARY KEY, team_name TEXT, city TEXT, founded_year INTEGER, coach TEXT);
CREATE TABLE players (player_id INTEGER PRIMARY KEY, team_id INTEGER, player_name TEXT, field_role TEXT, birth_date TEXT, goals INTEGER, salary REAL);
CREATE TABLE matches (match_id INTEGER PRIMARY KEY, home_team_id INTEGER, away_team_id INTEGER, match_date TEXT, home_goals INTEGER, away_goals INTEGER, attendance INTEGER);
INSERT INTO teams (team_id, team_name, city, founded_year, coach) VALUES
(1, 'Riverside Rovers', 'Leeds', 1902, 'Anna Keller'),
(2, 'Harbor City FC', 'Bristol', 1921, 'Marco Bianchi'),
(3, 'Northgate United', 'Newcastle', 1895, 'Sean Murphy'),
(4, 'Valley Athletic', 'Cardiff', 1934, NULL),
(5, 'Kingsbridge Town', 'Plymouth', 1910, 'Ruth Adebayo'),
(6, 'Eastfield Wanderers', 'Norwich', 1948, 'Pavel Novak');
INSERT INTO players (player_id, team_id, player_name, field_role, birth_date, goals, salary) VALUES
(1, 1, 'Jack Whitfield', 'Forward', '1997-03-14', 14, 48000.0),
(2, 1, 'Tomas Ruiz', 'Midfielder', '1999-08-02', 6, 39000.0),
(3, 1, 'Owen Price', 'Goalkeeper', '1994-12-20', 0, 35000.0),
(4, 2, 'Kwame Boateng', 'Forward', '2000-05-11', 11, 42000.0),
(5, 2, 'Luca Ferraro', 'Defender', '1996-01-28', 2, 37500.0),
(6, 3, 'Callum Reid', 'Forward', '1998-10-07', 17, 55000.0),
(7, 3, 'Ibrahim Sow', 'Midfielder', '2001-04-16', 4, 30000.0),
(8, 4, 'Rhys Morgan', 'Defender', '1995-07-30', 1, 33000.0),
(9, 4, 'Dylan Evans', 'Forward', '2002-02-09', 8, NULL),
(10, 5, 'Nathan Cole', 'Midfielder', '1993-11-23', 5, 36000.0),
(11, 6, 'Felix Wagner', 'Forward', '1999-06-18', 9, 40000.0),
(12, 6, 'Sam Okoro', 'Goalkeeper', '1997-09-05', 0, 31000.0);
INSERT INTO matches (match_id, home_team_id, away_team_id, match_date, home_goals, away_goals, attendance) VALUES
(1, 1, 2, '2023-08-12', 2, 1, 18500),
(2, 3, 4, '2023-08-12', 3, 0, 24100),
(3, 5, 6, '2023-08-13', 1, 1, 9800),
(4, 2, 3, '2023-08-19', 0, 2, 15200),
(5, 4, 1, '2023-08-19', 1, 1, 12400),
(6, 6, 5, '2023-08-20', 2, 3, 10100),
(7, 1, 3, '2023-08-26', 1, 2, 21000),
(8, 2, 5, '2023-08-26', 4, 0, 14300),
(9, 4, 6, '2023-09-02', 2, 2, NULL),
(10, 3, 1, '2023-09-02', 1, 0, 25300);
"""),
    queries=[
        (B, DR, "List the forwards who have scored more than 10 goals.",
         "SELECT player_name, goals FROM players WHERE field_role = 'Forward' AND goals > 10;",
         "Filters players on role Forward and more than 10 goals."),
        (B, DR, "Who are the three top goal scorers?",
         "SELECT player_name, goals FROM players ORDER BY goals DESC LIMIT 3;",
         "Orders players by goals descending and returns the first three."),
        (B, DR, "Which teams have no head coach recorded?",
         "SELECT team_name FROM teams WHERE coach IS NULL;",
         "Returns teams whose coach column is NULL."),
        (B, DM, "Set Dylan Evans's salary to 29000.",
         "UPDATE players SET salary = 29000.0 WHERE player_name = 'Dylan Evans';",
         "Updates the missing salary of the player Dylan Evans."),
        (B, DM, "Add team 7, Westmoor Albion from Exeter, founded in 1929 and coached by Grace Lin.",
         "INSERT INTO teams (team_id, team_name, city, founded_year, coach) VALUES (7, 'Westmoor Albion', 'Exeter', 1929, 'Grace Lin');",
         "Inserts one row into teams."),
        (AGG, AR, "How many goals have been scored by players in each field role?",
         "SELECT field_role, SUM(goals) AS total_goals FROM players GROUP BY field_role;",
         "Groups players by role and sums their goals."),
        (AGG, AR, "What was the average attendance per match date, rounded to the nearest whole number?",
         "SELECT match_date, ROUND(AVG(attendance), 0) AS avg_attendance FROM matches GROUP BY match_date;",
         "Averages attendance per match date; a missing attendance is ignored by AVG."),
        (J1, DR, "List the players of teams based in Leeds or Bristol together with their team names.",
         "SELECT p.player_name, t.team_name FROM players p JOIN teams t ON p.team_id = t.team_id WHERE t.city IN ('Leeds', 'Bristol');",
         "Joins players to teams and filters on the team city."),
        (J1, AR, "What is the total known salary bill of each team?",
         "SELECT t.team_name, SUM(p.salary) AS salary_bill FROM players p JOIN teams t ON p.team_id = t.team_id GROUP BY t.team_name;",
         "Joins players with teams and sums salaries per team name."),
        (JN, DR, "Show each match date with the names of the home and away teams and the final score.",
         "SELECT m.match_date, h.team_name AS home_team, a.team_name AS away_team, m.home_goals, m.away_goals FROM matches m JOIN teams h ON m.home_team_id = h.team_id JOIN teams a ON m.away_team_id = a.team_id;",
         "Joins the teams table twice, once for the home side and once for the away side."),
        (JN, DR, "Which home teams won by two or more goals? Show the home team, the away team and the date.",
         "SELECT h.team_name AS home_team, a.team_name AS away_team, m.match_date FROM matches m JOIN teams h ON m.home_team_id = h.team_id JOIN teams a ON m.away_team_id = a.team_id WHERE m.home_goals - m.away_goals >= 2;",
         "Joins teams twice and keeps matches whose home margin is at least two goals."),
        (SUB, DR, "Who is the highest-paid player, and what is the salary?",
         "SELECT player_name, salary FROM players WHERE salary = (SELECT MAX(salary) FROM players);",
         "A scalar subquery finds the maximum salary, and the outer query returns the player earning it."),
        (SUB, DR, "Which teams have at least one player with more than 10 goals?",
         "SELECT team_name FROM teams WHERE team_id IN (SELECT team_id FROM players WHERE goals > 10);",
         "An IN subquery collects the teams of high-scoring players."),
        (SUB, DM, "Give every player of the team coached by Sean Murphy a 5 percent raise.",
         "UPDATE players SET salary = salary * 1.05 WHERE team_id IN (SELECT team_id FROM teams WHERE coach = 'Sean Murphy');",
         "Multiplies salaries by 1.05 for players whose team is found by a subquery on the coach."),
        (WIN, AR, "Rank the players within each team by goals scored.",
         "SELECT team_id, player_name, goals, RANK() OVER (PARTITION BY team_id ORDER BY goals DESC) AS goal_rank FROM players;",
         "RANK partitioned by team and ordered by goals descending."),
        (WIN, AR, "Show each player's salary next to the average salary of their team.",
         "SELECT player_name, team_id, salary, AVG(salary) OVER (PARTITION BY team_id) AS team_avg_salary FROM players;",
         "AVG() OVER with PARTITION BY team_id attaches the team average to every player row."),
        (CTE, AR, "Which teams scored at least 4 goals in total in their home matches?",
         "WITH home_scoring AS (SELECT home_team_id, SUM(home_goals) AS home_goals_total FROM matches GROUP BY home_team_id) SELECT t.team_name, h.home_goals_total FROM home_scoring h JOIN teams t ON t.team_id = h.home_team_id WHERE h.home_goals_total >= 4;",
         "The CTE totals home goals per team; the outer query names the teams and keeps totals of 4 or more."),
        (CTE, AR, "Which teams have at least two players born in 1997 or later? Show the team name and that count.",
         "WITH young AS (SELECT team_id, COUNT(*) AS young_players FROM players WHERE birth_date >= '1997-01-01' GROUP BY team_id) SELECT t.team_name, y.young_players FROM young y JOIN teams t ON t.team_id = y.team_id WHERE y.young_players >= 2;",
         "The CTE counts players born from 1997 on per team; the final query adds team names and keeps counts of two or more."),
        (SET, DR, "Which team ids have won at least one home match and also at least one away match?",
         "SELECT home_team_id AS team_id FROM matches WHERE home_goals > away_goals INTERSECT SELECT away_team_id FROM matches WHERE away_goals > home_goals;",
         "INTERSECT keeps teams found both among home winners and among away winners."),
        (SET, DR, "List all names associated with the league: player names and the names of coaches.",
         "SELECT player_name AS person FROM players UNION SELECT coach FROM teams WHERE coach IS NOT NULL;",
         "UNION merges player names and known coach names."),
        (SET, DR, "Put every team's goals from every match into one list of team id and goals scored, home and away sides alike.",
         "SELECT home_team_id AS team_id, match_date, home_goals AS goals FROM matches UNION ALL SELECT away_team_id, match_date, away_goals FROM matches;",
         "UNION ALL stacks the home-side and away-side rows of each match, keeping duplicates."),
    ],
))

# ----------------------------------------------------------------------------- finance
SCHEMAS.append(dict(
    domain="finance",
    description="A retail bank's clients, their accounts and account transactions.",
    context=ctx("""
CREATE TABLE clients (client_id INTEGER PRIMARY KEY, full_name TEXT, city TEXT, date_of_birth TEXT, risk_profile TEXT);
CREATE TABLE accounts (account_id INTEGER PRIMARY KEY, client_id INTEGER, account_type TEXT, opened_date TEXT, balance DECIMAL(12,2));
CREATE TABLE transactions (txn_id INTEGER PRIMARY KEY, account_id INTEGER, txn_date TEXT, amount DECIMAL(10,2), txn_type TEXT, merchant TEXT);
INSERT INTO clients (client_id, full_name, city, date_of_birth, risk_profile) VALUES
(1, 'Margaret Chen', 'San Francisco', '1975-03-22', 'low'),
(2, 'David Okonkwo', 'Oakland', '1988-11-05', 'medium'),
(3, 'Sara Lindholm', 'San Jose', '1992-07-14', 'high'),
(4, 'Viktor Petrov', 'San Francisco', '1969-01-30', 'medium'),
(5, 'Julia Santos', 'Berkeley', '1999-09-09', NULL),
(6, 'Ahmed Karim', 'Oakland', '1983-05-18', 'low'),
(7, 'Nina Hoffmann', 'San Jose', '1995-12-01', 'high');
INSERT INTO accounts (account_id, client_id, account_type, opened_date, balance) VALUES
(101, 1, 'checking', '2010-06-01', 5420.75),
(102, 1, 'savings', '2012-02-15', 48200.00),
(103, 2, 'checking', '2016-09-10', 1830.40),
(104, 3, 'brokerage', '2019-04-22', 23150.00),
(105, 3, 'checking', '2019-04-22', 960.15),
(106, 4, 'savings', '2008-11-30', 102500.00),
(107, 5, 'checking', '2022-01-05', 310.00),
(108, 6, 'savings', '2014-07-19', 15800.50),
(109, 6, 'checking', '2014-07-19', 2740.00),
(110, 7, 'brokerage', '2021-03-03', 8900.25);
INSERT INTO transactions (txn_id, account_id, txn_date, amount, txn_type, merchant) VALUES
(1, 101, '2023-09-01', 2500.00, 'deposit', 'Payroll'),
(2, 101, '2023-09-03', -84.20, 'withdrawal', 'Green Grocer'),
(3, 103, '2023-09-03', -45.00, 'fee', NULL),
(4, 105, '2023-09-05', -120.99, 'withdrawal', 'City Electric'),
(5, 102, '2023-09-07', 1000.00, 'transfer', NULL),
(6, 107, '2023-09-08', -60.00, 'withdrawal', 'Metro Transit'),
(7, 109, '2023-09-10', 1800.00, 'deposit', 'Payroll'),
(8, 103, '2023-09-12', -230.45, 'withdrawal', 'Green Grocer'),
(9, 104, '2023-09-15', 5000.00, 'deposit', NULL),
(10, 110, '2023-09-18', -15.00, 'fee', NULL),
(11, 101, '2023-09-20', -1000.00, 'transfer', NULL),
(12, 105, '2023-09-25', -35.50, 'withdrawal', 'Metro Transit');
"""),
    queries=[
        (B, DR, "List the savings accounts holding more than 20,000.",
         "SELECT account_id, balance FROM accounts WHERE account_type = 'savings' AND balance > 20000;",
         "Filters accounts on type savings and a balance above 20000."),
        (B, DR, "Which clients have no risk profile assigned?",
         "SELECT full_name FROM clients WHERE risk_profile IS NULL;",
         "Returns clients whose risk_profile is NULL."),
        (B, DR, "Show the five most recent transactions.",
         "SELECT txn_id, account_id, txn_date, amount FROM transactions ORDER BY txn_date DESC LIMIT 5;",
         "Sorts transactions by date, newest first, and keeps five."),
        (B, DM, "Record transaction 13: a fee of 12.50 charged to account 107 on 2023-09-30, with no merchant.",
         "INSERT INTO transactions (txn_id, account_id, txn_date, amount, txn_type, merchant) VALUES (13, 107, '2023-09-30', -12.50, 'fee', NULL);",
         "Inserts a new fee transaction stored as a negative amount."),
        (B, DM, "Set the risk profile of client 5 to medium.",
         "UPDATE clients SET risk_profile = 'medium' WHERE client_id = 5;",
         "Updates risk_profile for the client with id 5."),
        (AGG, AR, "What is the total balance held in each account type?",
         "SELECT account_type, SUM(balance) AS total_balance FROM accounts GROUP BY account_type;",
         "Sums balances per account type."),
        (AGG, AR, "For each transaction type, how many transactions were there and what is their net amount?",
         "SELECT txn_type, COUNT(*) AS num_txns, SUM(amount) AS net_amount FROM transactions GROUP BY txn_type;",
         "Counts transactions and sums their signed amounts per type."),
        (J1, DR, "Show each client's name with the balance of their checking account.",
         "SELECT c.full_name, a.balance FROM clients c JOIN accounts a ON c.client_id = a.client_id WHERE a.account_type = 'checking';",
         "Joins clients to accounts and keeps checking accounts."),
        (J1, AR, "How many accounts does each client hold?",
         "SELECT c.full_name, COUNT(a.account_id) AS num_accounts FROM clients c JOIN accounts a ON c.client_id = a.client_id GROUP BY c.full_name;",
         "Joins clients to accounts and counts accounts per client."),
        (JN, DR, "Which clients shopped at Green Grocer? Show the name, date and amount of each purchase.",
         "SELECT c.full_name, t.txn_date, t.amount FROM transactions t JOIN accounts a ON t.account_id = a.account_id JOIN clients c ON a.client_id = c.client_id WHERE t.merchant = 'Green Grocer';",
         "Joins transactions to accounts and clients and filters on the merchant."),
        (JN, AR, "What is the total amount withdrawn by clients of each city, as a positive number?",
         "SELECT c.city, SUM(ABS(t.amount)) AS total_withdrawn FROM transactions t JOIN accounts a ON t.account_id = a.account_id JOIN clients c ON a.client_id = c.client_id WHERE t.txn_type = 'withdrawal' GROUP BY c.city;",
         "Joins the three tables, keeps withdrawals and sums their absolute amounts per city."),
        (SUB, DR, "Which clients hold a brokerage account?",
         "SELECT full_name FROM clients WHERE client_id IN (SELECT client_id FROM accounts WHERE account_type = 'brokerage');",
         "An IN subquery lists the owners of brokerage accounts."),
        (SUB, DR, "Which accounts have never had a transaction?",
         "SELECT account_id, account_type FROM accounts WHERE account_id NOT IN (SELECT account_id FROM transactions);",
         "Keeps accounts whose id never appears in transactions."),
        (SUB, DM, "Delete the fee transactions on accounts that belong to high-risk clients.",
         "DELETE FROM transactions WHERE txn_type = 'fee' AND account_id IN (SELECT account_id FROM accounts WHERE client_id IN (SELECT client_id FROM clients WHERE risk_profile = 'high'));",
         "Nested subqueries find the accounts of high-risk clients; their fee transactions are deleted."),
        (WIN, AR, "For every account, show each transaction with the running net amount in date order.",
         "SELECT account_id, txn_date, amount, SUM(amount) OVER (PARTITION BY account_id ORDER BY txn_date) AS running_net FROM transactions;",
         "SUM() OVER partitioned by account and ordered by date gives a running total."),
        (WIN, AR, "What percentage of each client's total balance sits in each of their accounts (rounded to 2 decimals)?",
         "SELECT client_id, account_id, ROUND(100.0 * balance / SUM(balance) OVER (PARTITION BY client_id), 2) AS pct_of_client FROM accounts;",
         "Divides each balance by the client's total obtained with SUM() OVER (PARTITION BY client_id)."),
        (CTE, AR, "Which clients hold more than 50,000 across all their accounts?",
         "WITH totals AS (SELECT client_id, SUM(balance) AS total_balance FROM accounts GROUP BY client_id) SELECT c.full_name, t.total_balance FROM totals t JOIN clients c ON c.client_id = t.client_id WHERE t.total_balance > 50000;",
         "The CTE totals balances per client; the outer query adds names and keeps totals above 50000."),
        (CTE, AR, "Which accounts had a net outflow (negative sum of amounts) in September 2023?",
         "WITH net AS (SELECT account_id, SUM(amount) AS net_flow FROM transactions WHERE txn_date BETWEEN '2023-09-01' AND '2023-09-30' GROUP BY account_id) SELECT account_id, net_flow FROM net WHERE net_flow < 0;",
         "The CTE nets September amounts per account and the main query keeps the negative ones."),
        (SET, DR, "Which account ids have had both a deposit and a withdrawal?",
         "SELECT account_id FROM transactions WHERE txn_type = 'deposit' INTERSECT SELECT account_id FROM transactions WHERE txn_type = 'withdrawal';",
         "INTERSECT returns accounts present in both the deposit and withdrawal sets."),
        (SET, DR, "Which client ids hold a checking account but no savings account?",
         "SELECT client_id FROM accounts WHERE account_type = 'checking' EXCEPT SELECT client_id FROM accounts WHERE account_type = 'savings';",
         "EXCEPT removes savings holders from the checking holders."),
        (SET, DR, "Build one activity log listing every account opening and every transaction, with the account id, date and kind of activity.",
         "SELECT account_id, opened_date AS activity_date, 'account opened' AS activity FROM accounts UNION ALL SELECT account_id, txn_date, txn_type FROM transactions;",
         "UNION ALL appends transactions to account openings, labelling openings with a constant string."),
    ],
))

# ----------------------------------------------------------------------------- real estate
SCHEMAS.append(dict(
    domain="real estate",
    description="Residential listings around Austin, the agents who sell them and closed sales.",
    context=ctx("""
CREATE TABLE agents (agent_id INTEGER PRIMARY KEY, agent_name TEXT, agency TEXT, phone TEXT, license_year INTEGER);
CREATE TABLE properties (property_id INTEGER PRIMARY KEY, address TEXT, city TEXT, property_type TEXT, bedrooms INTEGER, square_feet INTEGER, list_price DECIMAL(12,2), listed_date TEXT);
CREATE TABLE sales (sale_id INTEGER PRIMARY KEY, property_id INTEGER, agent_id INTEGER, sale_date TEXT, sale_price DECIMAL(12,2), buyer_name TEXT);
INSERT INTO agents (agent_id, agent_name, agency, phone, license_year) VALUES
(1, 'Rebecca Lyons', 'Summit Realty', '555-0142', 2011),
(2, 'Miguel Torres', 'Harbor Homes', '555-0178', 2016),
(3, 'Priyanka Shah', 'Summit Realty', NULL, 2019),
(4, 'George Whitman', 'Keystone Properties', '555-0110', 2004),
(5, 'Elena Popescu', 'Harbor Homes', '555-0193', 2021),
(6, 'Tariq Aziz', 'Keystone Properties', '555-0165', 2014);
INSERT INTO properties (property_id, address, city, property_type, bedrooms, square_feet, list_price, listed_date) VALUES
(1, '12 Birch Lane', 'Austin', 'Single Family', 4, 2450, 565000.00, '2023-01-15'),
(2, '880 Congress Ave #1204', 'Austin', 'Condo', 2, 1100, 389000.00, '2023-02-01'),
(3, '47 Willow Creek Dr', 'Round Rock', 'Single Family', 3, 1850, 429900.00, '2023-02-20'),
(4, '301 Lamar Blvd #5', 'Austin', 'Condo', 1, 720, 275000.00, '2023-03-05'),
(5, '9 Juniper Ct', 'Cedar Park', 'Townhouse', 3, 1600, 399500.00, '2023-03-18'),
(6, '1550 Ranch Rd', 'Round Rock', 'Single Family', 5, 3200, 689000.00, '2023-04-02'),
(7, '66 Pecan St', 'Georgetown', 'Townhouse', 2, 1300, 319000.00, '2023-04-10'),
(8, '220 Oak Hollow', 'Cedar Park', 'Single Family', 4, 2600, NULL, '2023-05-01'),
(9, '5 Riverside Dr #310', 'Austin', 'Condo', 2, 980, 352000.00, '2023-05-12'),
(10, '734 Mesa Trail', 'Georgetown', 'Single Family', 3, 2000, 455000.00, '2023-06-01');
INSERT INTO sales (sale_id, property_id, agent_id, sale_date, sale_price, buyer_name) VALUES
(1, 1, 1, '2023-03-01', 572000.00, 'The Harrisons'),
(2, 2, 2, '2023-03-20', 380000.00, 'Kim Delgado'),
(3, 4, 3, '2023-04-02', 270000.00, 'Arjun Mehta'),
(4, 5, 1, '2023-04-28', 405000.00, 'Lopez Family'),
(5, 6, 4, '2023-05-30', 675000.00, 'Chris Baker'),
(6, 3, 2, '2023-06-05', 425000.00, NULL),
(7, 9, 5, '2023-06-21', 355500.00, 'Wen Li'),
(8, 7, 1, '2023-07-02', 316000.00, 'Dana Fox');
"""),
    queries=[
        (B, DR, "List the addresses of Austin condos with at least two bedrooms.",
         "SELECT address FROM properties WHERE city = 'Austin' AND property_type = 'Condo' AND bedrooms >= 2;",
         "Applies three filters: city, property type and bedroom count."),
        (B, DR, "Which listings have no list price recorded?",
         "SELECT address, city FROM properties WHERE list_price IS NULL;",
         "Returns properties whose list_price is NULL."),
        (B, DR, "Which two properties have the largest floor area?",
         "SELECT address, square_feet FROM properties ORDER BY square_feet DESC LIMIT 2;",
         "Orders properties by square footage descending and keeps two."),
        (B, DM, "Lower the list price of 734 Mesa Trail to 445,000.",
         "UPDATE properties SET list_price = 445000.00 WHERE address = '734 Mesa Trail';",
         "Updates list_price for the property at that address."),
        (AGG, AR, "What is the average list price per city, rounded to the nearest dollar?",
         "SELECT city, ROUND(AVG(list_price), 0) AS avg_list_price FROM properties GROUP BY city;",
         "Averages list prices per city; unknown prices are ignored."),
        (AGG, AR, "How many properties of each type have three or more bedrooms?",
         "SELECT property_type, COUNT(*) AS num_properties FROM properties WHERE bedrooms >= 3 GROUP BY property_type;",
         "Filters on bedrooms and counts the remaining properties per type."),
        (J1, DR, "Show the address, sale price and sale date of every closed sale.",
         "SELECT p.address, s.sale_price, s.sale_date FROM sales s JOIN properties p ON s.property_id = p.property_id;",
         "Joins sales to properties to get the address of each sale."),
        (J1, AR, "How many sales has each agent closed? Include agents without any sale.",
         "SELECT a.agent_name, COUNT(s.sale_id) AS num_sales FROM agents a LEFT JOIN sales s ON a.agent_id = s.agent_id GROUP BY a.agent_name;",
         "A LEFT JOIN keeps every agent; COUNT of sale_id gives 0 for agents without sales."),
        (JN, DR, "List the agent name, property address and sale price for every sale of a property in Austin.",
         "SELECT a.agent_name, p.address, s.sale_price FROM sales s JOIN agents a ON s.agent_id = a.agent_id JOIN properties p ON s.property_id = p.property_id WHERE p.city = 'Austin';",
         "Joins sales to agents and properties and filters on city."),
        (JN, AR, "What is the total sales volume per agency for single-family homes?",
         "SELECT a.agency, SUM(s.sale_price) AS volume FROM sales s JOIN agents a ON s.agent_id = a.agent_id JOIN properties p ON s.property_id = p.property_id WHERE p.property_type = 'Single Family' GROUP BY a.agency;",
         "Joins the three tables, keeps single-family homes and sums sale prices per agency."),
        (SUB, DR, "Which properties sold for more than their list price?",
         "SELECT p.address, p.list_price FROM properties p WHERE p.list_price < (SELECT s.sale_price FROM sales s WHERE s.property_id = p.property_id);",
         "A correlated subquery fetches each property's sale price to compare with its list price."),
        (SUB, DR, "Which properties have not been sold yet?",
         "SELECT address FROM properties WHERE property_id NOT IN (SELECT property_id FROM sales);",
         "Keeps properties whose id is missing from the sales table."),
        (SUB, DM, "Remove the listings of properties that were sold before April 2023.",
         "DELETE FROM properties WHERE property_id IN (SELECT property_id FROM sales WHERE sale_date < '2023-04-01');",
         "A subquery finds properties with an early sale date and those listings are deleted."),
        (WIN, AR, "Within each city, rank the listed properties by list price from highest to lowest.",
         "SELECT city, address, list_price, RANK() OVER (PARTITION BY city ORDER BY list_price DESC) AS price_rank FROM properties WHERE list_price IS NOT NULL;",
         "RANK partitioned by city over properties with a known list price."),
        (WIN, AR, "In chronological order, show each sale's price and how much it differs from the previous sale's price.",
         "SELECT sale_date, sale_price, sale_price - LAG(sale_price) OVER (ORDER BY sale_date) AS change_from_previous FROM sales;",
         "LAG over sales ordered by date returns the previous price, which is subtracted from the current one."),
        (CTE, AR, "Which agents sold more than 1,000,000 in total? Show the agent name and the total.",
         "WITH volume AS (SELECT agent_id, SUM(sale_price) AS total_sold FROM sales GROUP BY agent_id) SELECT a.agent_name, v.total_sold FROM volume v JOIN agents a ON a.agent_id = v.agent_id WHERE v.total_sold > 1000000;",
         "The CTE sums sales per agent; the outer query keeps totals over one million and adds names."),
        (CTE, AR, "For sold properties, what is the average gap between list price and sale price for each property type?",
         "WITH sold AS (SELECT p.property_type, p.list_price - s.sale_price AS price_gap FROM sales s JOIN properties p ON p.property_id = s.property_id) SELECT property_type, AVG(price_gap) AS avg_gap FROM sold GROUP BY property_type;",
         "The CTE computes list minus sale price for each sale; the main query averages it per type."),
        (SET, DR, "Which property ids are listed but were never sold? Use a set difference.",
         "SELECT property_id FROM properties EXCEPT SELECT property_id FROM sales;",
         "EXCEPT removes sold property ids from all listed ids."),
        (SET, DR, "Build a contact list of all agent names and known buyer names.",
         "SELECT agent_name AS contact FROM agents UNION SELECT buyer_name FROM sales WHERE buyer_name IS NOT NULL;",
         "UNION merges agent and buyer names, dropping unknown buyers."),
    ],
))

# ----------------------------------------------------------------------------- hospitality
SCHEMAS.append(dict(
    domain="hospitality",
    description="A European hotel group's properties, guests and room bookings.",
    context=ctx("""
CREATE TABLE hotels (hotel_id INTEGER PRIMARY KEY, hotel_name TEXT, city TEXT, star_rating INTEGER, opened_year INTEGER);
CREATE TABLE guests (guest_id INTEGER PRIMARY KEY, guest_name TEXT, country TEXT, loyalty_tier TEXT);
CREATE TABLE bookings (booking_id INTEGER PRIMARY KEY, hotel_id INTEGER, guest_id INTEGER, check_in TEXT, nights INTEGER, room_rate DECIMAL(8,2), booking_channel TEXT);
INSERT INTO hotels (hotel_id, hotel_name, city, star_rating, opened_year) VALUES
(1, 'Seabreeze Resort', 'Lisbon', 5, 2005),
(2, 'Old Town Inn', 'Prague', 3, 1998),
(3, 'Canal View Hotel', 'Amsterdam', 4, 2012),
(4, 'Alpine Lodge', 'Innsbruck', 4, 2016),
(5, 'Harbour Lights', 'Lisbon', 3, 2019),
(6, 'Grand Plaza', 'Vienna', 5, 1989);
INSERT INTO guests (guest_id, guest_name, country, loyalty_tier) VALUES
(1, 'Isabel Ferreira', 'Portugal', 'Gold'),
(2, 'James Whitaker', 'UK', 'Silver'),
(3, 'Mei Lin', 'Singapore', NULL),
(4, 'Lukas Novak', 'Czech Republic', 'Bronze'),
(5, 'Amara Diallo', 'Senegal', 'Gold'),
(6, 'Pieter de Vries', 'Netherlands', NULL),
(7, 'Sophie Laurent', 'France', 'Silver'),
(8, 'Rohan Mehta', 'India', 'Bronze');
INSERT INTO bookings (booking_id, hotel_id, guest_id, check_in, nights, room_rate, booking_channel) VALUES
(1, 1, 1, '2023-07-01', 4, 310.00, 'direct'),
(2, 2, 2, '2023-07-03', 2, 95.00, 'OTA'),
(3, 3, 3, '2023-07-05', 3, 180.00, 'OTA'),
(4, 4, 4, '2023-07-08', 5, 150.00, 'direct'),
(5, 1, 5, '2023-07-10', 7, 295.00, 'corporate'),
(6, 6, 7, '2023-07-12', 2, 420.00, 'direct'),
(7, 5, 2, '2023-07-15', 3, 110.00, 'OTA'),
(8, 3, 6, '2023-07-18', 1, 175.00, 'corporate'),
(9, 2, 8, '2023-07-20', 4, 90.00, 'OTA'),
(10, 6, 1, '2023-07-22', 3, 435.00, 'OTA'),
(11, 4, 5, '2023-07-25', 2, 160.00, NULL),
(12, 1, 3, '2023-07-28', 5, 320.00, 'OTA');
"""),
    queries=[
        (B, DR, "Which hotels have a five-star rating?",
         "SELECT hotel_name, city FROM hotels WHERE star_rating = 5;",
         "Filters hotels on star_rating 5."),
        (B, DR, "List the bookings of five nights or more.",
         "SELECT booking_id, guest_id, nights FROM bookings WHERE nights >= 5;",
         "Keeps bookings whose stay is at least five nights."),
        (B, DM, "Delete the bookings that check in on 2023-07-18.",
         "DELETE FROM bookings WHERE check_in = '2023-07-18';",
         "Removes bookings with that check-in date."),
        (B, DM, "Put Mei Lin in the Bronze loyalty tier.",
         "UPDATE guests SET loyalty_tier = 'Bronze' WHERE guest_name = 'Mei Lin';",
         "Sets loyalty_tier for the guest named Mei Lin."),
        (AGG, AR, "What is the total room revenue (nights times room rate) per booking channel?",
         "SELECT booking_channel, SUM(nights * room_rate) AS revenue FROM bookings GROUP BY booking_channel;",
         "Sums nights times rate per channel; bookings with no channel form their own group."),
        (AGG, AR, "What is the average length of stay in nights, rounded to 2 decimals?",
         "SELECT ROUND(AVG(nights), 2) AS avg_nights FROM bookings;",
         "Averages the nights column over all bookings."),
        (J1, DR, "Show the guest name and check-in date of every booking made by Gold tier guests.",
         "SELECT g.guest_name, b.check_in FROM bookings b JOIN guests g ON b.guest_id = g.guest_id WHERE g.loyalty_tier = 'Gold';",
         "Joins bookings to guests and filters on the loyalty tier."),
        (J1, AR, "What is the average nightly rate booked at each hotel?",
         "SELECT h.hotel_name, AVG(b.room_rate) AS avg_rate FROM bookings b JOIN hotels h ON b.hotel_id = h.hotel_id GROUP BY h.hotel_name;",
         "Joins bookings to hotels and averages the room rate per hotel."),
        (J1, AR, "Which guest has booked the most nights in total?",
         "SELECT g.guest_name, SUM(b.nights) AS total_nights FROM bookings b JOIN guests g ON b.guest_id = g.guest_id GROUP BY g.guest_name ORDER BY SUM(b.nights) DESC LIMIT 1;",
         "Sums nights per guest and keeps the guest with the largest total."),
        (JN, DR, "For bookings made through an OTA, list the guest name, hotel name and hotel city.",
         "SELECT g.guest_name, h.hotel_name, h.city FROM bookings b JOIN guests g ON b.guest_id = g.guest_id JOIN hotels h ON b.hotel_id = h.hotel_id WHERE b.booking_channel = 'OTA';",
         "Joins bookings to guests and hotels and keeps OTA bookings."),
        (JN, AR, "How many nights did guests from each country spend in Lisbon hotels?",
         "SELECT g.country, SUM(b.nights) AS nights_in_lisbon FROM bookings b JOIN guests g ON b.guest_id = g.guest_id JOIN hotels h ON b.hotel_id = h.hotel_id WHERE h.city = 'Lisbon' GROUP BY g.country;",
         "Joins the three tables, keeps Lisbon hotels and sums nights per guest country."),
        (SUB, DR, "Which guests have stayed at the Grand Plaza?",
         "SELECT guest_name FROM guests WHERE guest_id IN (SELECT guest_id FROM bookings WHERE hotel_id = (SELECT hotel_id FROM hotels WHERE hotel_name = 'Grand Plaza'));",
         "A nested subquery finds the hotel id, then the guests who booked it."),
        (SUB, DR, "Which bookings have a room rate above the average rate of all bookings?",
         "SELECT booking_id, room_rate FROM bookings WHERE room_rate > (SELECT AVG(room_rate) FROM bookings);",
         "Compares each rate with the average computed in a scalar subquery."),
        (SUB, DM, "Give a 10 percent discount on the room rate of every booking made by a Gold tier guest.",
         "UPDATE bookings SET room_rate = room_rate * 0.9 WHERE guest_id IN (SELECT guest_id FROM guests WHERE loyalty_tier = 'Gold');",
         "Multiplies the rate by 0.9 for bookings whose guest is in the Gold tier."),
        (WIN, AR, "For each hotel, show its bookings in check-in order with a running total of nights.",
         "SELECT hotel_id, check_in, nights, SUM(nights) OVER (PARTITION BY hotel_id ORDER BY check_in) AS running_nights FROM bookings;",
         "SUM() OVER partitioned by hotel and ordered by check-in date accumulates nights."),
        (WIN, AR, "Split the bookings into four quartiles by room rate, lowest rates in quartile 1.",
         "SELECT booking_id, room_rate, NTILE(4) OVER (ORDER BY room_rate) AS rate_quartile FROM bookings;",
         "NTILE(4) over bookings ordered by rate assigns each booking to a quartile."),
        (CTE, AR, "Which hotels earned more than 2,000 in room revenue? Show the hotel name and revenue.",
         "WITH revenue AS (SELECT hotel_id, SUM(nights * room_rate) AS total_revenue FROM bookings GROUP BY hotel_id) SELECT h.hotel_name, r.total_revenue FROM revenue r JOIN hotels h ON h.hotel_id = r.hotel_id WHERE r.total_revenue > 2000;",
         "The CTE computes revenue per hotel; the outer query names hotels above 2000."),
        (CTE, AR, "How many bookings came from each loyalty tier, counting guests without a tier as 'None'?",
         "WITH tiered AS (SELECT b.booking_id, COALESCE(g.loyalty_tier, 'None') AS tier FROM bookings b JOIN guests g ON g.guest_id = b.guest_id) SELECT tier, COUNT(*) AS num_bookings FROM tiered GROUP BY tier;",
         "The CTE labels each booking with the guest's tier (COALESCE for missing tiers); the main query counts per tier."),
        (SET, DR, "Which guest ids booked both directly and through an OTA?",
         "SELECT guest_id FROM bookings WHERE booking_channel = 'direct' INTERSECT SELECT guest_id FROM bookings WHERE booking_channel = 'OTA';",
         "INTERSECT keeps the guests found in both channel sets."),
        (SET, DR, "Which hotel ids had check-ins before 2023-07-16 but none from 2023-07-16 on?",
         "SELECT hotel_id FROM bookings WHERE check_in < '2023-07-16' EXCEPT SELECT hotel_id FROM bookings WHERE check_in >= '2023-07-16';",
         "EXCEPT removes hotels with a late-July check-in from those with an early one."),
    ],
))

# ----------------------------------------------------------------------------- music
SCHEMAS.append(dict(
    domain="music",
    description="A streaming service's artists, their albums and monthly streaming reports.",
    context=ctx("""
CREATE TABLE artists (artist_id INTEGER PRIMARY KEY, artist_name TEXT, country TEXT, genre TEXT, debut_year INTEGER);
CREATE TABLE albums (album_id INTEGER PRIMARY KEY, artist_id INTEGER, title TEXT, release_date TEXT, label TEXT, track_count INTEGER);
CREATE TABLE streams (stream_id INTEGER PRIMARY KEY, album_id INTEGER, report_month TEXT, listener_country TEXT, stream_count INTEGER, revenue DECIMAL(10,2));
INSERT INTO artists (artist_id, artist_name, country, genre, debut_year) VALUES
(1, 'Luna Vega', 'Mexico', 'Pop', 2014),
(2, 'The Iron Pines', 'Canada', 'Rock', 2009),
(3, 'Kofi Mensah', 'Ghana', 'Afrobeats', 2017),
(4, 'Astrid Nyberg', 'Sweden', 'Electronic', 2012),
(5, 'Jae-won Park', 'South Korea', 'K-Pop', 2019),
(6, 'Velvet Harbor', 'UK', 'Indie', 2016),
(7, 'Rosa Ibarra', 'Spain', 'Flamenco', 2021);
INSERT INTO albums (album_id, artist_id, title, release_date, label, track_count) VALUES
(1, 1, 'Neon Hearts', '2019-05-17', 'Solstice Records', 12),
(2, 1, 'Midnight Mercado', '2022-09-30', 'Solstice Records', 10),
(3, 2, 'Timberline', '2011-03-08', 'Northbound Music', 11),
(4, 2, 'Ashes and Embers', '2018-10-12', NULL, 9),
(5, 3, 'Accra Nights', '2020-06-26', 'Golden Coast', 14),
(6, 4, 'Polar Circuits', '2016-02-19', 'Frostbyte', 8),
(7, 5, 'Blue Hour', '2021-11-05', 'Starlight Ent.', 6),
(8, 5, 'Daydream Theory', '2023-04-14', 'Starlight Ent.', 7),
(9, 6, 'Paper Lanterns', '2019-08-23', 'Wren Audio', 10);
INSERT INTO streams (stream_id, album_id, report_month, listener_country, stream_count, revenue) VALUES
(1, 1, '2023-06', 'USA', 820000, 3280.00),
(2, 1, '2023-06', 'Mexico', 1150000, 2875.00),
(3, 2, '2023-06', 'Mexico', 640000, 1600.00),
(4, 3, '2023-06', 'Canada', 210000, 840.00),
(5, 5, '2023-06', 'Ghana', 390000, 390.00),
(6, 5, '2023-06', 'UK', 275000, 1100.00),
(7, 6, '2023-06', 'Sweden', 180000, 720.00),
(8, 7, '2023-06', 'South Korea', 930000, 2790.00),
(9, 8, '2023-07', 'South Korea', 1240000, 3720.00),
(10, 8, '2023-07', 'USA', 560000, 2240.00),
(11, 9, '2023-07', 'UK', 305000, 1220.00),
(12, 1, '2023-07', 'USA', 790000, 3160.00);
"""),
    queries=[
        (B, DR, "Which albums were released in 2019?",
         "SELECT title, release_date FROM albums WHERE release_date BETWEEN '2019-01-01' AND '2019-12-31';",
         "Filters albums whose release date falls within 2019."),
        (B, DR, "Which single streaming record has the highest stream count?",
         "SELECT album_id, report_month, listener_country, stream_count FROM streams ORDER BY stream_count DESC LIMIT 1;",
         "Orders streaming records by stream count and keeps the largest."),
        (B, DM, "Record that Ashes and Embers was released on the Northbound Music label.",
         "UPDATE albums SET label = 'Northbound Music' WHERE title = 'Ashes and Embers';",
         "Fills in the missing label of that album."),
        (AGG, AR, "What were the total streams and total revenue in each report month?",
         "SELECT report_month, SUM(stream_count) AS total_streams, SUM(revenue) AS total_revenue FROM streams GROUP BY report_month;",
         "Sums stream counts and revenue per month."),
        (AGG, AR, "How many albums has each label released, leaving out albums without a known label?",
         "SELECT label, COUNT(*) AS num_albums FROM albums WHERE label IS NOT NULL GROUP BY label;",
         "Counts albums per non-null label."),
        (J1, DR, "List the titles of albums by South Korean artists.",
         "SELECT al.title FROM albums al JOIN artists ar ON al.artist_id = ar.artist_id WHERE ar.country = 'South Korea';",
         "Joins albums to artists and filters on the artist's country."),
        (J1, AR, "How many albums exist in each genre?",
         "SELECT ar.genre, COUNT(al.album_id) AS num_albums FROM artists ar JOIN albums al ON al.artist_id = ar.artist_id GROUP BY ar.genre;",
         "Joins artists to their albums and counts albums per genre."),
        (JN, AR, "How many streams did each artist get in June 2023?",
         "SELECT ar.artist_name, SUM(s.stream_count) AS june_streams FROM streams s JOIN albums al ON s.album_id = al.album_id JOIN artists ar ON al.artist_id = ar.artist_id WHERE s.report_month = '2023-06' GROUP BY ar.artist_name;",
         "Joins streams to albums and artists, keeps June 2023 and sums streams per artist."),
        (SUB, DR, "Which artists have not released any album?",
         "SELECT artist_name FROM artists WHERE artist_id NOT IN (SELECT artist_id FROM albums);",
         "Keeps artists absent from the albums table."),
        (SUB, DM, "Delete the streaming records of albums released before 2015.",
         "DELETE FROM streams WHERE album_id IN (SELECT album_id FROM albums WHERE release_date < '2015-01-01');",
         "Deletes streams whose album is found by a subquery on release date."),
        (WIN, AR, "Within each report month, rank the streaming records by stream count, highest first.",
         "SELECT report_month, album_id, listener_country, stream_count, RANK() OVER (PARTITION BY report_month ORDER BY stream_count DESC) AS month_rank FROM streams;",
         "RANK partitioned by month and ordered by stream count descending."),
        (CTE, AR, "Which albums earned more than 3,000 in total streaming revenue? Show the title and total.",
         "WITH album_revenue AS (SELECT album_id, SUM(revenue) AS total_revenue FROM streams GROUP BY album_id) SELECT al.title, r.total_revenue FROM album_revenue r JOIN albums al ON al.album_id = r.album_id WHERE r.total_revenue > 3000;",
         "The CTE sums revenue per album; the outer query adds titles and keeps totals above 3000."),
        (SET, DR, "Which listener countries streamed music in both June and July 2023?",
         "SELECT listener_country FROM streams WHERE report_month = '2023-06' INTERSECT SELECT listener_country FROM streams WHERE report_month = '2023-07';",
         "INTERSECT keeps countries present in both months."),
        (SET, DR, "List every country that is either an artist's home country or a listener country.",
         "SELECT country FROM artists UNION SELECT listener_country FROM streams;",
         "UNION merges both country columns without duplicates."),
    ],
))

# ----------------------------------------------------------------------------- logistics
SCHEMAS.append(dict(
    domain="logistics",
    description="A European freight network's warehouses, carriers and outbound shipments.",
    context=ctx("""
CREATE TABLE warehouses (warehouse_id INTEGER PRIMARY KEY, warehouse_name TEXT, city TEXT, country TEXT, capacity_pallets INTEGER);
CREATE TABLE carriers (carrier_id INTEGER PRIMARY KEY, carrier_name TEXT, transport_mode TEXT, rating REAL);
CREATE TABLE shipments (shipment_id INTEGER PRIMARY KEY, warehouse_id INTEGER, carrier_id INTEGER, destination_city TEXT, ship_date TEXT, delivery_date TEXT, weight_kg REAL, cost DECIMAL(10,2));
INSERT INTO warehouses (warehouse_id, warehouse_name, city, country, capacity_pallets) VALUES
(1, 'Rotterdam Hub', 'Rotterdam', 'Netherlands', 12000),
(2, 'Lyon Central', 'Lyon', 'France', 6500),
(3, 'Leipzig East', 'Leipzig', 'Germany', 8000),
(4, 'Milan North', 'Milan', 'Italy', 5000),
(5, 'Valencia Port', 'Valencia', 'Spain', 7000);
INSERT INTO carriers (carrier_id, carrier_name, transport_mode, rating) VALUES
(1, 'SwiftRoad Logistics', 'road', 4.3),
(2, 'EuroRail Cargo', 'rail', 3.9),
(3, 'SkyFreight', 'air', 4.6),
(4, 'BlueWave Shipping', 'sea', 3.7),
(5, 'Alpine Haulage', 'road', 4.1),
(6, 'CityCourier', 'road', NULL);
INSERT INTO shipments (shipment_id, warehouse_id, carrier_id, destination_city, ship_date, delivery_date, weight_kg, cost) VALUES
(1, 1, 1, 'Brussels', '2023-10-02', '2023-10-03', 1200.0, 850.00),
(2, 1, 4, 'Dublin', '2023-10-02', '2023-10-09', 5400.0, 2300.00),
(3, 2, 2, 'Marseille', '2023-10-03', '2023-10-05', 3100.0, 940.00),
(4, 3, 3, 'Warsaw', '2023-10-04', '2023-10-04', 250.0, 1180.00),
(5, 3, 1, 'Prague', '2023-10-05', '2023-10-06', 980.0, 610.00),
(6, 4, 5, 'Zurich', '2023-10-05', '2023-10-06', 1450.0, 720.00),
(7, 5, 4, 'Genoa', '2023-10-06', '2023-10-10', 7800.0, 2950.00),
(8, 2, 1, 'Geneva', '2023-10-07', NULL, 860.0, 530.00),
(9, 4, 3, 'Vienna', '2023-10-08', '2023-10-08', 310.0, 1290.00),
(10, 5, 2, 'Madrid', '2023-10-09', '2023-10-10', 4200.0, 1010.00),
(11, 1, 5, 'Cologne', '2023-10-10', NULL, 1900.0, 780.00),
(12, 3, 2, 'Berlin', '2023-10-11', '2023-10-12', 2600.0, 690.00);
"""),
    queries=[
        (B, DR, "Which shipments are still in transit, i.e. have no delivery date?",
         "SELECT shipment_id, destination_city FROM shipments WHERE delivery_date IS NULL;",
         "Returns shipments whose delivery_date is NULL."),
        (B, DR, "List the three heaviest shipments.",
         "SELECT shipment_id, destination_city, weight_kg FROM shipments ORDER BY weight_kg DESC LIMIT 3;",
         "Orders shipments by weight descending and keeps three."),
        (B, DR, "List the road carriers with a rating above 4.",
         "SELECT carrier_name, rating FROM carriers WHERE transport_mode = 'road' AND rating > 4;",
         "Filters carriers on transport mode and rating."),
        (B, DM, "Mark shipment 8 as delivered on 2023-10-09.",
         "UPDATE shipments SET delivery_date = '2023-10-09' WHERE shipment_id = 8;",
         "Sets the delivery date of shipment 8."),
        (AGG, AR, "How many shipments left each warehouse, and what was their combined weight?",
         "SELECT warehouse_id, COUNT(*) AS num_shipments, SUM(weight_kg) AS total_weight_kg FROM shipments GROUP BY warehouse_id;",
         "Counts shipments and sums weights per warehouse."),
        (AGG, AR, "What is the average cost of shipments heavier than 1,000 kg?",
         "SELECT AVG(cost) AS avg_cost FROM shipments WHERE weight_kg > 1000;",
         "Averages cost over shipments whose weight exceeds 1000 kg."),
        (J1, DR, "Show the destination and carrier name of every air shipment.",
         "SELECT s.destination_city, c.carrier_name FROM shipments s JOIN carriers c ON s.carrier_id = c.carrier_id WHERE c.transport_mode = 'air';",
         "Joins shipments to carriers and keeps the air mode."),
        (J1, AR, "What is the total shipping cost for each origin country?",
         "SELECT w.country, SUM(s.cost) AS total_cost FROM shipments s JOIN warehouses w ON s.warehouse_id = w.warehouse_id GROUP BY w.country;",
         "Joins shipments to warehouses and sums cost per warehouse country."),
        (JN, DR, "List the shipment id, warehouse name and carrier name of shipments heavier than 3,000 kg.",
         "SELECT s.shipment_id, w.warehouse_name, c.carrier_name FROM shipments s JOIN warehouses w ON s.warehouse_id = w.warehouse_id JOIN carriers c ON s.carrier_id = c.carrier_id WHERE s.weight_kg > 3000;",
         "Joins shipments to warehouses and carriers and filters on weight."),
        (SUB, DR, "Which carriers have shipped goods from the Rotterdam Hub?",
         "SELECT carrier_name FROM carriers WHERE carrier_id IN (SELECT carrier_id FROM shipments WHERE warehouse_id = (SELECT warehouse_id FROM warehouses WHERE warehouse_name = 'Rotterdam Hub'));",
         "Nested subqueries find the warehouse id and then the carriers that shipped from it."),
        (SUB, DR, "Which carriers have never been used for a shipment?",
         "SELECT carrier_name FROM carriers WHERE carrier_id NOT IN (SELECT carrier_id FROM shipments);",
         "Keeps carriers whose id does not appear in shipments."),
        (SUB, DM, "Delete the shipments handled by carriers rated below 3.8.",
         "DELETE FROM shipments WHERE carrier_id IN (SELECT carrier_id FROM carriers WHERE rating < 3.8);",
         "Deletes shipments whose carrier is returned by a subquery on rating."),
        (WIN, DR, "For each warehouse, list its shipments by ship date (then shipment id) with the cost of the warehouse's previous shipment.",
         "SELECT warehouse_id, shipment_id, ship_date, cost, LAG(cost) OVER (PARTITION BY warehouse_id ORDER BY ship_date, shipment_id) AS previous_cost FROM shipments;",
         "LAG partitioned by warehouse and ordered by date and id returns the previous shipment's cost."),
        (CTE, DR, "Which shipments cost more than the average shipment? Show destination and cost.",
         "WITH avg_cost AS (SELECT AVG(cost) AS avg_c FROM shipments) SELECT s.destination_city, s.cost FROM shipments s CROSS JOIN avg_cost a WHERE s.cost > a.avg_c;",
         "The CTE holds the average cost, cross joined to every shipment for the comparison."),
        (CTE, AR, "Which warehouses shipped more than 5,000 kg in total? Show the warehouse name and total weight.",
         "WITH shipped AS (SELECT warehouse_id, SUM(weight_kg) AS total_kg FROM shipments GROUP BY warehouse_id) SELECT w.warehouse_name, sh.total_kg FROM shipped sh JOIN warehouses w ON w.warehouse_id = sh.warehouse_id WHERE sh.total_kg > 5000;",
         "The CTE totals weight per warehouse and the outer query keeps totals above 5000 kg."),
        (SET, DR, "List every city that is a warehouse location or a shipment destination.",
         "SELECT city FROM warehouses UNION SELECT destination_city FROM shipments;",
         "UNION combines both city columns and removes duplicates."),
        (SET, DR, "Which carrier ids shipped from warehouse 1 but never from warehouse 3?",
         "SELECT carrier_id FROM shipments WHERE warehouse_id = 1 EXCEPT SELECT carrier_id FROM shipments WHERE warehouse_id = 3;",
         "EXCEPT removes the carriers used by warehouse 3."),
    ],
))

# ----------------------------------------------------------------------------- agriculture
SCHEMAS.append(dict(
    domain="agriculture",
    description="Farms, the crops they grow and the harvests they sell.",
    context=ctx("""
CREATE TABLE farms (farm_id INTEGER PRIMARY KEY, farm_name TEXT, region TEXT, owner_name TEXT, hectares REAL, organic_certified INTEGER);
CREATE TABLE crops (crop_id INTEGER PRIMARY KEY, crop_name TEXT, crop_family TEXT, days_to_maturity INTEGER);
CREATE TABLE harvests (harvest_id INTEGER PRIMARY KEY, farm_id INTEGER, crop_id INTEGER, harvest_date TEXT, yield_tonnes REAL, price_per_tonne DECIMAL(8,2));
INSERT INTO farms (farm_id, farm_name, region, owner_name, hectares, organic_certified) VALUES
(1, 'Sunny Acres', 'Central Valley', 'Maria Gonzalez', 120.5, 1),
(2, 'Red Barn Farm', 'Willamette Valley', 'Tom Jacobsen', 85.0, 0),
(3, 'Green Hollow', 'Central Valley', 'Keiko Sato', 42.75, 1),
(4, 'Prairie Wind Ranch', 'Great Plains', 'Bill Hendricks', 640.0, 0),
(5, 'Riverbend Organics', 'Willamette Valley', NULL, 33.25, 1),
(6, 'High Mesa Growers', 'Great Plains', 'Lucia Ortega', 210.0, 0);
INSERT INTO crops (crop_id, crop_name, crop_family, days_to_maturity) VALUES
(1, 'Wheat', 'Grass', 120),
(2, 'Tomato', 'Nightshade', 75),
(3, 'Almond', 'Rose', NULL),
(4, 'Corn', 'Grass', 100),
(5, 'Blueberry', 'Heath', NULL),
(6, 'Potato', 'Nightshade', 90);
INSERT INTO harvests (harvest_id, farm_id, crop_id, harvest_date, yield_tonnes, price_per_tonne) VALUES
(1, 1, 2, '2023-08-10', 310.0, 120.00),
(2, 1, 3, '2023-09-05', 95.5, 4200.00),
(3, 2, 5, '2023-07-20', 18.25, 3100.00),
(4, 2, 6, '2023-09-15', 240.0, 210.00),
(5, 3, 2, '2023-08-22', 88.0, 135.00),
(6, 4, 1, '2023-07-30', 2150.0, 265.00),
(7, 4, 4, '2023-10-12', 3400.0, 190.00),
(8, 5, 5, '2023-07-25', 12.5, 3350.00),
(9, 6, 1, '2023-08-02', 820.0, 260.00),
(10, 6, 4, '2023-10-05', 1100.0, 185.00),
(11, 3, 6, '2023-09-28', 64.0, 225.00),
(12, 1, 4, '2023-10-01', NULL, 195.00);
"""),
    queries=[
        (B, DR, "Which farms are certified organic?",
         "SELECT farm_name, region FROM farms WHERE organic_certified = 1;",
         "Filters farms on the organic_certified flag."),
        (B, DM, "Record a yield of 540 tonnes for harvest 12.",
         "UPDATE harvests SET yield_tonnes = 540.0 WHERE harvest_id = 12;",
         "Fills in the missing yield of harvest 12."),
        (B, DM, "Add crop 7, Sunflower, from the Aster family, which matures in 95 days.",
         "INSERT INTO crops (crop_id, crop_name, crop_family, days_to_maturity) VALUES (7, 'Sunflower', 'Aster', 95);",
         "Inserts a new row into crops."),
        (AGG, AR, "What was the total harvested yield in each month?",
         "SELECT SUBSTR(harvest_date, 1, 7) AS harvest_month, SUM(yield_tonnes) AS total_tonnes FROM harvests GROUP BY SUBSTR(harvest_date, 1, 7);",
         "Groups harvests by year-month and sums yields."),
        (AGG, AR, "How many hectares are farmed in each region?",
         "SELECT region, SUM(hectares) AS total_hectares FROM farms GROUP BY region;",
         "Sums farm areas per region."),
        (J1, DR, "List the date and yield of every tomato harvest.",
         "SELECT h.harvest_date, h.yield_tonnes FROM harvests h JOIN crops c ON h.crop_id = c.crop_id WHERE c.crop_name = 'Tomato';",
         "Joins harvests to crops and keeps Tomato."),
        (J1, AR, "What is the total value of each farm's harvests (yield times price per tonne)?",
         "SELECT f.farm_name, SUM(h.yield_tonnes * h.price_per_tonne) AS harvest_value FROM harvests h JOIN farms f ON h.farm_id = f.farm_id GROUP BY f.farm_name;",
         "Joins harvests to farms and sums yield times price per farm; a missing yield contributes nothing."),
        (JN, AR, "Which crops did Great Plains farms harvest, and how many tonnes of each?",
         "SELECT c.crop_name, SUM(h.yield_tonnes) AS tonnes FROM harvests h JOIN farms f ON h.farm_id = f.farm_id JOIN crops c ON h.crop_id = c.crop_id WHERE f.region = 'Great Plains' GROUP BY c.crop_name;",
         "Joins harvests to farms and crops, keeps the Great Plains region and sums tonnes per crop."),
        (SUB, DR, "Which farms have never harvested corn?",
         "SELECT farm_name FROM farms WHERE farm_id NOT IN (SELECT farm_id FROM harvests WHERE crop_id = (SELECT crop_id FROM crops WHERE crop_name = 'Corn'));",
         "Nested subqueries find the corn crop id and the farms that harvested it; the rest are returned."),
        (SUB, DR, "Which harvests sold at a higher price per tonne than the average price for the same crop?",
         "SELECT h.harvest_id, h.crop_id, h.price_per_tonne FROM harvests h WHERE h.price_per_tonne > (SELECT AVG(h2.price_per_tonne) FROM harvests h2 WHERE h2.crop_id = h.crop_id);",
         "A correlated subquery computes the average price of the same crop for each harvest."),
        (SUB, DM, "Raise the price per tonne by 5 percent for harvests from certified organic farms.",
         "UPDATE harvests SET price_per_tonne = price_per_tonne * 1.05 WHERE farm_id IN (SELECT farm_id FROM farms WHERE organic_certified = 1);",
         "Multiplies the price by 1.05 for harvests whose farm is certified organic."),
        (WIN, AR, "Rank each farm's harvests by yield, largest first.",
         "SELECT farm_id, harvest_id, yield_tonnes, RANK() OVER (PARTITION BY farm_id ORDER BY yield_tonnes DESC) AS yield_rank FROM harvests WHERE yield_tonnes IS NOT NULL;",
         "RANK partitioned by farm over harvests with a known yield, ordered by yield descending."),
        (CTE, AR, "Which crop families produced more than 500 tonnes in total?",
         "WITH family_yield AS (SELECT c.crop_family, SUM(h.yield_tonnes) AS tonnes FROM harvests h JOIN crops c ON h.crop_id = c.crop_id GROUP BY c.crop_family) SELECT crop_family, tonnes FROM family_yield WHERE tonnes > 500;",
         "The CTE totals yield per crop family; the main query keeps families above 500 tonnes."),
        (SET, DR, "Which regions have both certified organic and conventional farms?",
         "SELECT region FROM farms WHERE organic_certified = 1 INTERSECT SELECT region FROM farms WHERE organic_certified = 0;",
         "INTERSECT keeps regions appearing in both groups of farms."),
    ],
))

# ----------------------------------------------------------------------------- energy
SCHEMAS.append(dict(
    domain="energy",
    description="Power plants, their monthly generation and maintenance events.",
    context=ctx("""
CREATE TABLE power_plants (plant_id INTEGER PRIMARY KEY, plant_name TEXT, fuel_type TEXT, state TEXT, capacity_mw REAL, commissioned_year INTEGER);
CREATE TABLE generation (record_id INTEGER PRIMARY KEY, plant_id INTEGER, gen_month TEXT, output_mwh REAL, co2_tonnes REAL);
CREATE TABLE maintenance (maint_id INTEGER PRIMARY KEY, plant_id INTEGER, start_date TEXT, end_date TEXT, maint_type TEXT, cost DECIMAL(10,2));
INSERT INTO power_plants (plant_id, plant_name, fuel_type, state, capacity_mw, commissioned_year) VALUES
(1, 'Mesa Verde Solar', 'Solar', 'AZ', 250.0, 2018),
(2, 'Gusty Ridge Wind', 'Wind', 'TX', 310.0, 2015),
(3, 'Clearwater Dam', 'Hydro', 'WA', 540.0, 1972),
(4, 'Bayside Gas Station', 'Natural Gas', 'CA', 620.0, 2004),
(5, 'Black Hollow Coal', 'Coal', 'WV', 900.0, 1981),
(6, 'Prairie Breeze Wind', 'Wind', 'KS', 180.0, 2020),
(7, 'Desert Sun Array', 'Solar', 'NV', 400.0, 2022);
INSERT INTO generation (record_id, plant_id, gen_month, output_mwh, co2_tonnes) VALUES
(1, 1, '2023-01', 38000.0, 0.0),
(2, 1, '2023-02', 41500.0, 0.0),
(3, 2, '2023-01', 96000.0, 0.0),
(4, 2, '2023-02', 88500.0, 0.0),
(5, 3, '2023-01', 210000.0, 0.0),
(6, 4, '2023-01', 265000.0, 97000.0),
(7, 4, '2023-02', 240500.0, 88000.0),
(8, 5, '2023-01', 410000.0, 385000.0),
(9, 5, '2023-02', NULL, NULL),
(10, 6, '2023-01', 52000.0, 0.0),
(11, 7, '2023-02', 63500.0, 0.0),
(12, 3, '2023-02', 198000.0, 0.0);
INSERT INTO maintenance (maint_id, plant_id, start_date, end_date, maint_type, cost) VALUES
(1, 2, '2023-01-09', '2023-01-12', 'Gearbox inspection', 18500.00),
(2, 4, '2023-02-01', '2023-02-04', 'Turbine overhaul', 142000.00),
(3, 5, '2023-02-03', '2023-02-28', 'Boiler repair', 365000.00),
(4, 1, '2023-02-14', '2023-02-14', 'Panel cleaning', 4200.00),
(5, 3, '2023-01-20', '2023-01-25', NULL, 27500.00),
(6, 2, '2023-02-22', '2023-02-23', 'Blade repair', 9600.00);
"""),
    queries=[
        (B, DR, "Which power plants were commissioned after 2010?",
         "SELECT plant_name, commissioned_year FROM power_plants WHERE commissioned_year > 2010;",
         "Filters plants on commissioning year."),
        (B, DM, "Delete Black Hollow Coal's generation record for 2023-02, which has no data (plant 5).",
         "DELETE FROM generation WHERE plant_id = 5 AND gen_month = '2023-02';",
         "Deletes the generation row of plant 5 for February 2023."),
        (B, DM, "Set the type of maintenance event 5 to Spillway inspection.",
         "UPDATE maintenance SET maint_type = 'Spillway inspection' WHERE maint_id = 5;",
         "Fills in the missing maintenance type of event 5."),
        (AGG, AR, "What is the total generating capacity for each fuel type?",
         "SELECT fuel_type, SUM(capacity_mw) AS total_capacity_mw FROM power_plants GROUP BY fuel_type;",
         "Sums plant capacity per fuel type."),
        (AGG, AR, "How much electricity was generated in each month, in MWh?",
         "SELECT gen_month, SUM(output_mwh) AS total_mwh FROM generation GROUP BY gen_month;",
         "Sums output per month; a missing output is ignored."),
        (J1, DR, "Show each plant's name with its output in January 2023.",
         "SELECT p.plant_name, g.output_mwh FROM generation g JOIN power_plants p ON g.plant_id = p.plant_id WHERE g.gen_month = '2023-01';",
         "Joins generation to plants and keeps January 2023."),
        (J1, AR, "What is the total maintenance cost for each fuel type?",
         "SELECT p.fuel_type, SUM(m.cost) AS maintenance_cost FROM maintenance m JOIN power_plants p ON m.plant_id = p.plant_id GROUP BY p.fuel_type;",
         "Joins maintenance to plants and sums cost per fuel type."),
        (JN, DR, "For maintenance that started in February 2023, show the plant name, maintenance type and the plant's February 2023 output.",
         "SELECT p.plant_name, m.maint_type, g.output_mwh FROM maintenance m JOIN power_plants p ON m.plant_id = p.plant_id JOIN generation g ON g.plant_id = p.plant_id AND g.gen_month = '2023-02' WHERE m.start_date >= '2023-02-01' AND m.start_date <= '2023-02-28';",
         "Joins maintenance to plants and to the matching February generation row."),
        (SUB, DR, "Which plants have never needed maintenance?",
         "SELECT plant_name FROM power_plants WHERE plant_id NOT IN (SELECT plant_id FROM maintenance);",
         "Keeps plants whose id is absent from maintenance."),
        (SUB, DR, "Which generation records exceed the average monthly output of all records?",
         "SELECT record_id, plant_id, gen_month, output_mwh FROM generation WHERE output_mwh > (SELECT AVG(output_mwh) FROM generation);",
         "Compares output with the average from a scalar subquery."),
        (SUB, DM, "Delete the maintenance records of coal plants.",
         "DELETE FROM maintenance WHERE plant_id IN (SELECT plant_id FROM power_plants WHERE fuel_type = 'Coal');",
         "Deletes maintenance rows whose plant is a coal plant."),
        (WIN, AR, "Show each plant's monthly output and the change from its previous month.",
         "SELECT plant_id, gen_month, output_mwh, output_mwh - LAG(output_mwh) OVER (PARTITION BY plant_id ORDER BY gen_month) AS change_mwh FROM generation;",
         "LAG per plant ordered by month gives the previous output to subtract."),
        (WIN, AR, "Rank the plants by capacity within each fuel type, largest first.",
         "SELECT fuel_type, plant_name, capacity_mw, RANK() OVER (PARTITION BY fuel_type ORDER BY capacity_mw DESC) AS capacity_rank FROM power_plants;",
         "RANK partitioned by fuel type and ordered by capacity descending."),
        (CTE, AR, "What was each plant's capacity factor in January 2023 (output divided by capacity times 744 hours), as a percentage rounded to 1 decimal?",
         "WITH jan AS (SELECT plant_id, output_mwh FROM generation WHERE gen_month = '2023-01') SELECT p.plant_name, ROUND(100.0 * j.output_mwh / (p.capacity_mw * 744), 1) AS capacity_factor_pct FROM jan j JOIN power_plants p ON p.plant_id = j.plant_id;",
         "The CTE keeps January output; the main query divides it by the theoretical maximum of the plant."),
        (SET, DR, "Which plant ids reported output in both January and February 2023?",
         "SELECT plant_id FROM generation WHERE gen_month = '2023-01' AND output_mwh IS NOT NULL INTERSECT SELECT plant_id FROM generation WHERE gen_month = '2023-02' AND output_mwh IS NOT NULL;",
         "INTERSECT keeps plants with a known output in both months."),
        (SET, DR, "Which states host a solar plant or a wind plant? Combine the two lists.",
         "SELECT state FROM power_plants WHERE fuel_type = 'Solar' UNION SELECT state FROM power_plants WHERE fuel_type = 'Wind';",
         "UNION merges the states of solar plants and of wind plants."),
    ],
))

# ----------------------------------------------------------------------------- environment
SCHEMAS.append(dict(
    domain="environment",
    description="Air-quality monitoring stations in California and their daily pollutant readings.",
    context=ctx("""
CREATE TABLE stations (station_id INTEGER PRIMARY KEY, station_name TEXT, city TEXT, latitude REAL, longitude REAL, install_date TEXT);
CREATE TABLE readings (reading_id INTEGER PRIMARY KEY, station_id INTEGER, reading_date TEXT, pm25 REAL, no2 REAL, ozone REAL);
INSERT INTO stations (station_id, station_name, city, latitude, longitude, install_date) VALUES
(1, 'Riverside Park', 'Fresno', 36.7378, -119.7871, '2018-04-01'),
(2, 'Downtown Civic', 'Fresno', 36.7362, -119.7856, '2019-06-15'),
(3, 'Harbor Point', 'Oakland', 37.7955, -122.2789, '2017-09-10'),
(4, 'Foothill Ridge', 'Bakersfield', 35.3733, -119.0187, '2020-02-20'),
(5, 'Airport West', 'Oakland', 37.7126, -122.2197, NULL);
INSERT INTO readings (reading_id, station_id, reading_date, pm25, no2, ozone) VALUES
(1, 1, '2023-08-01', 18.4, 21.0, 44.0),
(2, 1, '2023-08-02', 22.9, 24.5, 51.0),
(3, 2, '2023-08-01', 27.3, 33.2, 47.0),
(4, 2, '2023-08-02', 31.9, 35.6, NULL),
(5, 3, '2023-08-01', 9.6, 28.4, 38.0),
(6, 3, '2023-08-02', 11.2, 30.1, 36.0),
(7, 4, '2023-08-01', 35.5, 19.8, 62.0),
(8, 4, '2023-08-02', 41.2, 22.3, 68.0),
(9, 5, '2023-08-01', 8.1, 25.7, 35.0),
(10, 5, '2023-08-02', NULL, 27.9, 37.0),
(11, 1, '2023-08-03', 20.1, 22.8, 48.0),
(12, 4, '2023-08-03', 38.7, 21.5, 65.0);
"""),
    queries=[
        (B, DR, "Which readings had a PM2.5 level above 35?",
         "SELECT reading_id, station_id, reading_date, pm25 FROM readings WHERE pm25 > 35;",
         "Filters readings on pm25 greater than 35."),
        (B, DM, "Set the install date of the Airport West station to 2021-03-01.",
         "UPDATE stations SET install_date = '2021-03-01' WHERE station_name = 'Airport West';",
         "Fills in the missing install date of that station."),
        (AGG, AR, "What is the average PM2.5 at each station, rounded to 1 decimal?",
         "SELECT station_id, ROUND(AVG(pm25), 1) AS avg_pm25 FROM readings GROUP BY station_id;",
         "Averages pm25 per station; missing values are ignored."),
        (AGG, AR, "What was the highest NO2 reading on each date?",
         "SELECT reading_date, MAX(no2) AS max_no2 FROM readings GROUP BY reading_date;",
         "Takes the maximum no2 per reading date."),
        (J1, DR, "Show the station name, city and ozone level of every reading taken on 2023-08-02.",
         "SELECT s.station_name, s.city, r.ozone FROM readings r JOIN stations s ON r.station_id = s.station_id WHERE r.reading_date = '2023-08-02';",
         "Joins readings to stations and keeps one date."),
        (J1, AR, "What is the average NO2 level in each city, rounded to 1 decimal?",
         "SELECT s.city, ROUND(AVG(r.no2), 1) AS avg_no2 FROM readings r JOIN stations s ON r.station_id = s.station_id GROUP BY s.city;",
         "Joins readings to stations and averages no2 per city."),
        (JN, DR, "For each station, show its name with its PM2.5 on 2023-08-01 and on 2023-08-02 side by side.",
         "SELECT s.station_name, a.pm25 AS pm25_aug1, b.pm25 AS pm25_aug2 FROM readings a JOIN readings b ON a.station_id = b.station_id JOIN stations s ON s.station_id = a.station_id WHERE a.reading_date = '2023-08-01' AND b.reading_date = '2023-08-02';",
         "Self-joins readings to pair the two dates per station and joins stations for the name."),
        (SUB, DR, "Which stations recorded at least one PM2.5 reading above the overall average PM2.5?",
         "SELECT station_name FROM stations WHERE station_id IN (SELECT station_id FROM readings WHERE pm25 > (SELECT AVG(pm25) FROM readings));",
         "The inner scalar subquery computes the overall average; the IN subquery finds stations above it."),
        (SUB, DM, "Delete all readings taken at stations in Oakland.",
         "DELETE FROM readings WHERE station_id IN (SELECT station_id FROM stations WHERE city = 'Oakland');",
         "Deletes readings whose station is located in Oakland."),
        (WIN, AR, "For each station, show daily PM2.5 with a two-day moving average (that day and the previous reading).",
         "SELECT station_id, reading_date, pm25, AVG(pm25) OVER (PARTITION BY station_id ORDER BY reading_date ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS moving_avg FROM readings;",
         "AVG() OVER with a ROWS frame of one preceding row gives a two-reading moving average per station."),
        (WIN, AR, "Rank the readings of 2023-08-01 by ozone level, highest first.",
         "SELECT station_id, ozone, RANK() OVER (ORDER BY ozone DESC) AS ozone_rank FROM readings WHERE reading_date = '2023-08-01';",
         "Filters one date and ranks its readings by ozone descending."),
        (CTE, AR, "Which stations have an average ozone level above 45? Show the station name and average.",
         "WITH ozone_avg AS (SELECT station_id, AVG(ozone) AS avg_ozone FROM readings GROUP BY station_id) SELECT s.station_name, o.avg_ozone FROM ozone_avg o JOIN stations s ON s.station_id = o.station_id WHERE o.avg_ozone > 45;",
         "The CTE averages ozone per station; the outer query adds names and keeps averages above 45."),
        (SET, DR, "Which station ids had PM2.5 above 20 on both 2023-08-01 and 2023-08-02?",
         "SELECT station_id FROM readings WHERE reading_date = '2023-08-01' AND pm25 > 20 INTERSECT SELECT station_id FROM readings WHERE reading_date = '2023-08-02' AND pm25 > 20;",
         "INTERSECT keeps stations above the threshold on both days."),
    ],
))

# ----------------------------------------------------------------------------- gaming
SCHEMAS.append(dict(
    domain="gaming",
    description="An online game platform's players, game catalog and play sessions.",
    context=ctx("""
CREATE TABLE players (player_id INTEGER PRIMARY KEY, gamertag TEXT, country TEXT, join_date TEXT, premium INTEGER);
CREATE TABLE games (game_id INTEGER PRIMARY KEY, title TEXT, genre TEXT, release_year INTEGER, price REAL);
CREATE TABLE sessions (session_id INTEGER PRIMARY KEY, player_id INTEGER, game_id INTEGER, session_date TEXT, minutes_played INTEGER, score INTEGER);
INSERT INTO players (player_id, gamertag, country, join_date, premium) VALUES
(1, 'ShadowFox', 'USA', '2021-02-11', 1),
(2, 'PixelQueen', 'Canada', '2020-07-30', 0),
(3, 'NightOwl88', 'Germany', '2022-01-05', 1),
(4, 'LagMaster', 'Brazil', '2019-11-19', 0),
(5, 'ByteKnight', 'Japan', '2023-03-22', 1),
(6, 'CrimsonAce', 'USA', '2022-08-14', 0),
(7, 'ZenGamer', NULL, '2023-05-09', 0);
INSERT INTO games (game_id, title, genre, release_year, price) VALUES
(1, 'Starfall Odyssey', 'RPG', 2021, 59.99),
(2, 'Turbo Drift X', 'Racing', 2022, 39.99),
(3, 'Castle Siege', 'Strategy', 2019, 29.99),
(4, 'Neon Arena', 'Shooter', 2023, 49.99),
(5, 'Puzzle Garden', 'Puzzle', 2020, 9.99),
(6, 'Deep Dive', 'Adventure', 2023, NULL);
INSERT INTO sessions (session_id, player_id, game_id, session_date, minutes_played, score) VALUES
(1, 1, 1, '2023-09-01', 120, 4500),
(2, 1, 4, '2023-09-02', 45, 2100),
(3, 2, 5, '2023-09-01', 30, 880),
(4, 3, 3, '2023-09-03', 95, 3700),
(5, 3, 1, '2023-09-05', 150, 5200),
(6, 4, 2, '2023-09-02', 60, 2900),
(7, 5, 4, '2023-09-04', 80, 3300),
(8, 6, 4, '2023-09-04', 55, 1800),
(9, 2, 5, '2023-09-06', 25, 950),
(10, 1, 1, '2023-09-07', 90, 4100),
(11, 6, 2, '2023-09-08', 70, 3050),
(12, 5, 1, '2023-09-09', 110, NULL);
"""),
    queries=[
        (B, DR, "Which games cost less than 40?",
         "SELECT title, price FROM games WHERE price < 40;",
         "Filters games on a price below 40; games without a price are excluded."),
        (B, DM, "Delete the play sessions that lasted less than 30 minutes.",
         "DELETE FROM sessions WHERE minutes_played < 30;",
         "Removes sessions shorter than 30 minutes."),
        (AGG, AR, "Which games have more than 150 minutes of total play time, and how many minutes?",
         "SELECT game_id, SUM(minutes_played) AS total_minutes FROM sessions GROUP BY game_id HAVING SUM(minutes_played) > 150;",
         "Sums minutes per game and keeps games above 150 with HAVING."),
        (AGG, AR, "How many premium and how many non-premium players are there?",
         "SELECT premium, COUNT(*) AS num_players FROM players GROUP BY premium;",
         "Counts players per value of the premium flag."),
        (J1, DR, "Show the game title and minutes played for every session on 2023-09-04.",
         "SELECT g.title, s.minutes_played FROM sessions s JOIN games g ON s.game_id = g.game_id WHERE s.session_date = '2023-09-04';",
         "Joins sessions to games and keeps one date."),
        (J1, AR, "What is the average session score for each game genre?",
         "SELECT g.genre, AVG(s.score) AS avg_score FROM sessions s JOIN games g ON s.game_id = g.game_id GROUP BY g.genre;",
         "Joins sessions to games and averages scores per genre; unscored sessions are ignored."),
        (JN, DR, "List the gamertag and game title of every session longer than 90 minutes.",
         "SELECT p.gamertag, g.title, s.minutes_played FROM sessions s JOIN players p ON s.player_id = p.player_id JOIN games g ON s.game_id = g.game_id WHERE s.minutes_played > 90;",
         "Joins sessions to players and games and filters on session length."),
        (SUB, DR, "Which games have never been played?",
         "SELECT title FROM games WHERE game_id NOT IN (SELECT game_id FROM sessions);",
         "Keeps games whose id is absent from sessions."),
        (SUB, DR, "Which players have at least one session scoring above the average session score?",
         "SELECT gamertag FROM players WHERE player_id IN (SELECT player_id FROM sessions WHERE score > (SELECT AVG(score) FROM sessions));",
         "A scalar subquery gives the average score; an IN subquery finds players with a session above it."),
        (SUB, DM, "Grant premium status to every player who has played Turbo Drift X.",
         "UPDATE players SET premium = 1 WHERE player_id IN (SELECT player_id FROM sessions WHERE game_id = (SELECT game_id FROM games WHERE title = 'Turbo Drift X'));",
         "Nested subqueries find the game and its players, whose premium flag is set to 1."),
        (WIN, AR, "For each player, list their sessions in date order with a running total of minutes played.",
         "SELECT player_id, session_date, minutes_played, SUM(minutes_played) OVER (PARTITION BY player_id ORDER BY session_date) AS running_minutes FROM sessions;",
         "SUM() OVER partitioned by player and ordered by date accumulates minutes."),
        (WIN, AR, "Dense-rank the scored sessions of each game by score, highest first.",
         "SELECT game_id, session_id, score, DENSE_RANK() OVER (PARTITION BY game_id ORDER BY score DESC) AS score_rank FROM sessions WHERE score IS NOT NULL;",
         "DENSE_RANK per game over sessions that have a score."),
        (CTE, AR, "Which players spent more than 200 minutes playing in total? Show gamertag and minutes.",
         "WITH playtime AS (SELECT player_id, SUM(minutes_played) AS total_minutes FROM sessions GROUP BY player_id) SELECT p.gamertag, t.total_minutes FROM playtime t JOIN players p ON p.player_id = t.player_id WHERE t.total_minutes > 200;",
         "The CTE totals minutes per player; the outer query adds gamertags and keeps totals above 200."),
        (SET, DR, "Which player ids have played both game 1 (Starfall Odyssey) and game 4 (Neon Arena)?",
         "SELECT player_id FROM sessions WHERE game_id = 1 INTERSECT SELECT player_id FROM sessions WHERE game_id = 4;",
         "INTERSECT keeps players present in the sessions of both games."),
    ],
))

# ----------------------------------------------------------------------------- nonprofit
SCHEMAS.append(dict(
    domain="nonprofit",
    description="A charity's donors, fundraising campaigns and the donations they receive.",
    context=ctx("""
CREATE TABLE donors (donor_id INTEGER PRIMARY KEY, donor_name TEXT, donor_type TEXT, state TEXT, first_gift_date TEXT);
CREATE TABLE campaigns (campaign_id INTEGER PRIMARY KEY, campaign_name TEXT, cause TEXT, goal_amount DECIMAL(12,2), start_date TEXT, end_date TEXT);
CREATE TABLE donations (donation_id INTEGER PRIMARY KEY, donor_id INTEGER, campaign_id INTEGER, donation_date TEXT, amount DECIMAL(10,2), payment_method TEXT);
INSERT INTO donors (donor_id, donor_name, donor_type, state, first_gift_date) VALUES
(1, 'Helen Park', 'Individual', 'OR', '2018-03-12'),
(2, 'Greenleaf Foundation', 'Foundation', 'WA', '2015-06-01'),
(3, 'Marcus Bell', 'Individual', 'CA', '2020-11-23'),
(4, 'Cascade Outfitters Inc.', 'Corporate', 'OR', '2019-04-17'),
(5, 'Fatou Ndiaye', 'Individual', 'WA', NULL),
(6, 'Blue Heron Trust', 'Foundation', 'CA', '2016-09-09'),
(7, 'Priya Raman', 'Individual', 'OR', '2022-02-14'),
(8, 'Summit Tech LLC', 'Corporate', 'ID', '2021-07-30');
INSERT INTO campaigns (campaign_id, campaign_name, cause, goal_amount, start_date, end_date) VALUES
(1, 'Clean Rivers 2023', 'Environment', 50000.00, '2023-01-01', '2023-06-30'),
(2, 'Books for Every Child', 'Education', 30000.00, '2023-02-15', '2023-08-31'),
(3, 'Winter Shelter Drive', 'Housing', 40000.00, '2023-09-01', '2023-12-31'),
(4, 'Community Food Pantry', 'Hunger', 25000.00, '2023-03-01', NULL),
(5, 'Wildfire Relief', 'Disaster Relief', 75000.00, '2023-08-01', '2023-10-31');
INSERT INTO donations (donation_id, donor_id, campaign_id, donation_date, amount, payment_method) VALUES
(1, 1, 1, '2023-01-15', 250.00, 'card'),
(2, 2, 1, '2023-02-01', 20000.00, 'check'),
(3, 3, 2, '2023-03-10', 100.00, 'card'),
(4, 4, 4, '2023-03-22', 5000.00, 'transfer'),
(5, 5, 2, '2023-04-05', 75.00, 'card'),
(6, 6, 5, '2023-08-12', 30000.00, 'transfer'),
(7, 1, 4, '2023-05-18', 150.00, 'card'),
(8, 7, 2, '2023-06-02', 60.00, NULL),
(9, 8, 5, '2023-08-20', 10000.00, 'transfer'),
(10, 2, 3, '2023-09-15', 15000.00, 'check'),
(11, 3, 5, '2023-09-02', 200.00, 'card'),
(12, 4, 1, '2023-04-30', 2500.00, 'transfer');
"""),
    queries=[
        (B, DR, "List the donations of 10,000 or more.",
         "SELECT donation_id, donor_id, amount FROM donations WHERE amount >= 10000;",
         "Filters donations on amount."),
        (B, DM, "Set the end date of the Community Food Pantry campaign to 2023-12-31.",
         "UPDATE campaigns SET end_date = '2023-12-31' WHERE campaign_name = 'Community Food Pantry';",
         "Fills in the missing end date of that campaign."),
        (AGG, AR, "How much was donated through each payment method?",
         "SELECT payment_method, SUM(amount) AS total_amount FROM donations GROUP BY payment_method;",
         "Sums donation amounts per payment method, with unknown methods grouped together."),
        (AGG, AR, "How many donors of each type are there in each state?",
         "SELECT donor_type, state, COUNT(*) AS num_donors FROM donors GROUP BY donor_type, state;",
         "Counts donors per combination of type and state."),
        (J1, AR, "How much has each campaign raised? Show campaign names.",
         "SELECT c.campaign_name, SUM(d.amount) AS total_raised FROM donations d JOIN campaigns c ON d.campaign_id = c.campaign_id GROUP BY c.campaign_name;",
         "Joins donations to campaigns and sums amounts per campaign."),
        (J1, DR, "List the names of individual donors with the amount and date of each of their donations.",
         "SELECT dn.donor_name, d.amount, d.donation_date FROM donations d JOIN donors dn ON d.donor_id = dn.donor_id WHERE dn.donor_type = 'Individual';",
         "Joins donations to donors and keeps individual donors."),
        (JN, DR, "Which donors gave to the Wildfire Relief campaign, and how much did each give?",
         "SELECT dn.donor_name, d.amount FROM donations d JOIN donors dn ON d.donor_id = dn.donor_id JOIN campaigns c ON d.campaign_id = c.campaign_id WHERE c.campaign_name = 'Wildfire Relief';",
         "Joins donations to donors and campaigns and filters on the campaign name."),
        (JN, AR, "How much did each donor type give to each cause?",
         "SELECT dn.donor_type, c.cause, SUM(d.amount) AS total_given FROM donations d JOIN donors dn ON d.donor_id = dn.donor_id JOIN campaigns c ON d.campaign_id = c.campaign_id GROUP BY dn.donor_type, c.cause;",
         "Joins the three tables and sums amounts per donor type and cause."),
        (SUB, DR, "Which donors have given more than once?",
         "SELECT donor_name FROM donors WHERE donor_id IN (SELECT donor_id FROM donations GROUP BY donor_id HAVING COUNT(*) > 1);",
         "The subquery groups donations by donor and keeps donors with more than one gift."),
        (SUB, DR, "Which campaigns have already raised at least half of their goal?",
         "SELECT c.campaign_name FROM campaigns c WHERE (SELECT SUM(d.amount) FROM donations d WHERE d.campaign_id = c.campaign_id) >= c.goal_amount * 0.5;",
         "A correlated subquery totals each campaign's donations for comparison with half its goal."),
        (SUB, DM, "Delete the donations that corporate donors made to campaign 1 (Clean Rivers 2023).",
         "DELETE FROM donations WHERE campaign_id = 1 AND donor_id IN (SELECT donor_id FROM donors WHERE donor_type = 'Corporate');",
         "Deletes campaign 1 donations whose donor is corporate."),
        (WIN, AR, "Show every donation with the running total raised by its campaign in date order.",
         "SELECT campaign_id, donation_date, amount, SUM(amount) OVER (PARTITION BY campaign_id ORDER BY donation_date) AS running_total FROM donations;",
         "SUM() OVER partitioned by campaign and ordered by date."),
        (WIN, DR, "Number the donations within each campaign from largest to smallest amount.",
         "SELECT campaign_id, donation_id, amount, ROW_NUMBER() OVER (PARTITION BY campaign_id ORDER BY amount DESC) AS gift_position FROM donations;",
         "ROW_NUMBER per campaign ordered by amount descending."),
        (CTE, AR, "What percentage of its goal has each campaign raised, rounded to 1 decimal?",
         "WITH raised AS (SELECT campaign_id, SUM(amount) AS total_raised FROM donations GROUP BY campaign_id) SELECT c.campaign_name, ROUND(100.0 * r.total_raised / c.goal_amount, 1) AS pct_of_goal FROM raised r JOIN campaigns c ON c.campaign_id = r.campaign_id;",
         "The CTE totals donations per campaign; the main query divides by the goal."),
        (CTE, AR, "Which donor states gave more than 20,000 in total?",
         "WITH state_totals AS (SELECT dn.state, SUM(d.amount) AS total FROM donations d JOIN donors dn ON d.donor_id = dn.donor_id GROUP BY dn.state) SELECT state, total FROM state_totals WHERE total > 20000;",
         "The CTE sums donations per donor state; the outer query keeps the states above 20000."),
        (SET, DR, "Which donor ids gave to both campaign 1 (Clean Rivers 2023) and campaign 4 (Community Food Pantry)?",
         "SELECT donor_id FROM donations WHERE campaign_id = 1 INTERSECT SELECT donor_id FROM donations WHERE campaign_id = 4;",
         "INTERSECT returns donors who appear in both campaigns."),
        (SET, DR, "Which donor ids gave in the first half of 2023 but not in the second half?",
         "SELECT donor_id FROM donations WHERE donation_date < '2023-07-01' EXCEPT SELECT donor_id FROM donations WHERE donation_date >= '2023-07-01';",
         "EXCEPT removes donors with a gift from July onward."),
    ],
))

# ----------------------------------------------------------------------------- human resources
SCHEMAS.append(dict(
    domain="human resources",
    description="A software company's departments, employees, projects and project assignments.",
    context=ctx("""
CREATE TABLE departments (dept_id INTEGER PRIMARY KEY, dept_name TEXT, location TEXT, budget DECIMAL(12,2));
CREATE TABLE employees (emp_id INTEGER PRIMARY KEY, full_name TEXT, dept_id INTEGER, job_title TEXT, hire_date TEXT, salary DECIMAL(10,2), manager_id INTEGER);
CREATE TABLE projects (project_id INTEGER PRIMARY KEY, project_name TEXT, dept_id INTEGER, start_date TEXT, end_date TEXT, status TEXT);
CREATE TABLE assignments (assignment_id INTEGER PRIMARY KEY, emp_id INTEGER, project_id INTEGER, hours_allocated INTEGER, assignment_role TEXT);
INSERT INTO departments (dept_id, dept_name, location, budget) VALUES
(1, 'Engineering', 'Berlin', 1200000.00),
(2, 'Marketing', 'Amsterdam', 450000.00),
(3, 'Finance', 'Berlin', 380000.00),
(4, 'People Operations', 'Madrid', 220000.00),
(5, 'Customer Success', 'Dublin', NULL);
INSERT INTO employees (emp_id, full_name, dept_id, job_title, hire_date, salary, manager_id) VALUES
(1, 'Katrin Vogel', 1, 'VP Engineering', '2014-04-01', 145000.00, NULL),
(2, 'Arjun Kapoor', 1, 'Senior Engineer', '2017-09-15', 98000.00, 1),
(3, 'Lea Fischer', 1, 'Engineer', '2020-02-03', 76000.00, 2),
(4, 'Bruno Costa', 1, 'Engineer', '2021-06-21', 72000.00, 2),
(5, 'Sanne de Boer', 2, 'Marketing Lead', '2016-11-07', 88000.00, NULL),
(6, 'Tom Walsh', 2, 'Content Strategist', '2022-03-14', 61000.00, 5),
(7, 'Elif Demir', 3, 'Controller', '2015-01-19', 102000.00, NULL),
(8, 'Paolo Ricci', 3, 'Analyst', '2019-08-26', 67000.00, 7),
(9, 'Marta López', 4, 'HR Partner', '2018-05-02', 64000.00, NULL),
(10, 'Niamh Byrne', 5, 'Support Manager', '2017-03-13', 79000.00, NULL),
(11, 'Ivan Horvat', 5, 'Support Agent', '2023-01-09', 48000.00, 10);
INSERT INTO projects (project_id, project_name, dept_id, start_date, end_date, status) VALUES
(1, 'Platform Migration', 1, '2023-01-10', '2023-09-30', 'completed'),
(2, 'Brand Refresh', 2, '2023-03-01', '2023-07-31', 'completed'),
(3, 'Budget Forecasting Tool', 3, '2023-05-15', NULL, 'active'),
(4, 'Onboarding Revamp', 4, '2023-06-01', NULL, 'active'),
(5, 'Mobile App v2', 1, '2023-08-01', NULL, 'active'),
(6, 'Self-Service Portal', 5, '2023-10-01', NULL, 'planned');
INSERT INTO assignments (assignment_id, emp_id, project_id, hours_allocated, assignment_role) VALUES
(1, 2, 1, 400, 'lead'),
(2, 3, 1, 600, 'developer'),
(3, 4, 1, 550, 'developer'),
(4, 5, 2, 300, 'lead'),
(5, 6, 2, 450, 'writer'),
(6, 8, 3, 350, 'analyst'),
(7, 7, 3, 120, 'sponsor'),
(8, 9, 4, 200, 'lead'),
(9, 3, 5, 300, 'developer'),
(10, 2, 5, 250, 'architect'),
(11, 6, 4, 80, 'writer'),
(12, 11, 6, 100, 'tester');
"""),
    queries=[
        (B, DR, "Which employees were hired before 2016?",
         "SELECT full_name, hire_date FROM employees WHERE hire_date < '2016-01-01';",
         "Compares ISO hire dates with the start of 2016."),
        (B, DM, "Set Ivan Horvat's salary to 50,000.",
         "UPDATE employees SET salary = 50000.00 WHERE full_name = 'Ivan Horvat';",
         "Updates the salary of one employee."),
        (B, DM, "Add project 7, Data Warehouse, for department 3, starting 2024-01-08 with status planned and no end date.",
         "INSERT INTO projects (project_id, project_name, dept_id, start_date, end_date, status) VALUES (7, 'Data Warehouse', 3, '2024-01-08', NULL, 'planned');",
         "Inserts a new planned project."),
        (AGG, AR, "What is the headcount and total payroll of each department id?",
         "SELECT dept_id, COUNT(*) AS headcount, SUM(salary) AS payroll FROM employees GROUP BY dept_id;",
         "Counts employees and sums salaries per department."),
        (J1, DR, "List the employees who work in departments located in Berlin, with their department names.",
         "SELECT e.full_name, d.dept_name FROM employees e JOIN departments d ON e.dept_id = d.dept_id WHERE d.location = 'Berlin';",
         "Joins employees to departments and filters on location."),
        (J1, AR, "Which department has the highest total payroll?",
         "SELECT d.dept_name, SUM(e.salary) AS payroll FROM employees e JOIN departments d ON e.dept_id = d.dept_id GROUP BY d.dept_name ORDER BY SUM(e.salary) DESC LIMIT 1;",
         "Sums salaries per department and keeps the largest total."),
        (J1, AR, "How many hours are allocated to each project? Show project names.",
         "SELECT p.project_name, SUM(a.hours_allocated) AS total_hours FROM assignments a JOIN projects p ON a.project_id = p.project_id GROUP BY p.project_name;",
         "Joins assignments to projects and sums hours per project."),
        (JN, DR, "For active projects, list each assigned employee's name, the project name and the hours allocated.",
         "SELECT e.full_name, p.project_name, a.hours_allocated FROM assignments a JOIN employees e ON a.emp_id = e.emp_id JOIN projects p ON a.project_id = p.project_id WHERE p.status = 'active';",
         "Joins assignments to employees and projects and keeps active projects."),
        (JN, DR, "Show each employee who has a manager, with the manager's name and the employee's department name.",
         "SELECT e.full_name AS employee, m.full_name AS manager, d.dept_name FROM employees e JOIN employees m ON e.manager_id = m.emp_id JOIN departments d ON e.dept_id = d.dept_id;",
         "Self-joins employees to find each manager and joins departments for the name."),
        (JN, AR, "For completed projects, how many hours were allocated per employee department name?",
         "SELECT d.dept_name, SUM(a.hours_allocated) AS hours FROM assignments a JOIN projects p ON a.project_id = p.project_id JOIN employees e ON a.emp_id = e.emp_id JOIN departments d ON e.dept_id = d.dept_id WHERE p.status = 'completed' GROUP BY d.dept_name;",
         "Joins all four tables, keeps completed projects and sums hours by the employee's department."),
        (SUB, DR, "Which employees earn more than the average salary of their own department?",
         "SELECT e.full_name, e.salary FROM employees e WHERE e.salary > (SELECT AVG(e2.salary) FROM employees e2 WHERE e2.dept_id = e.dept_id);",
         "A correlated subquery computes each employee's department average."),
        (SUB, DR, "Which employees are not assigned to any project?",
         "SELECT full_name FROM employees WHERE emp_id NOT IN (SELECT emp_id FROM assignments);",
         "Keeps employees whose id is absent from assignments."),
        (SUB, DM, "Give a 3 percent raise to employees of departments located in Berlin.",
         "UPDATE employees SET salary = salary * 1.03 WHERE dept_id IN (SELECT dept_id FROM departments WHERE location = 'Berlin');",
         "Multiplies salaries by 1.03 where the department is found in Berlin."),
        (WIN, AR, "Dense-rank employees by salary within each department, highest first.",
         "SELECT dept_id, full_name, salary, DENSE_RANK() OVER (PARTITION BY dept_id ORDER BY salary DESC) AS salary_rank FROM employees;",
         "DENSE_RANK partitioned by department ordered by salary descending."),
        (WIN, AR, "How far below the top salary of their department is each employee?",
         "SELECT full_name, dept_id, salary, MAX(salary) OVER (PARTITION BY dept_id) - salary AS gap_to_top FROM employees;",
         "MAX() OVER per department gives the top salary, from which each salary is subtracted."),
        (CTE, AR, "Which departments spend more than 30 percent of their budget on salaries?",
         "WITH payroll AS (SELECT dept_id, SUM(salary) AS total_salary FROM employees GROUP BY dept_id) SELECT d.dept_name, p.total_salary, d.budget FROM payroll p JOIN departments d ON d.dept_id = p.dept_id WHERE p.total_salary > 0.3 * d.budget;",
         "The CTE sums salaries per department; the outer query compares the sum with 30 percent of the budget."),
        (CTE, AR, "How many direct reports does each manager have? Show the manager's name.",
         "WITH reports AS (SELECT manager_id, COUNT(*) AS direct_reports FROM employees WHERE manager_id IS NOT NULL GROUP BY manager_id) SELECT e.full_name, r.direct_reports FROM reports r JOIN employees e ON e.emp_id = r.manager_id;",
         "The CTE counts employees per manager id; the outer query looks up the manager's name."),
        (SET, DR, "Which employee ids are assigned to both project 1 (Platform Migration) and project 5 (Mobile App v2)?",
         "SELECT emp_id FROM assignments WHERE project_id = 1 INTERSECT SELECT emp_id FROM assignments WHERE project_id = 5;",
         "INTERSECT keeps employees on both projects."),
        (SET, DR, "Which department ids have an active project but no completed project?",
         "SELECT dept_id FROM projects WHERE status = 'active' EXCEPT SELECT dept_id FROM projects WHERE status = 'completed';",
         "EXCEPT removes departments with a completed project from those with an active one."),
    ],
))

# ----------------------------------------------------------------------------- automotive
SCHEMAS.append(dict(
    domain="automotive",
    description="Car dealerships, the vehicles in their inventory and completed vehicle sales.",
    context=ctx("""
CREATE TABLE dealerships (dealer_id INTEGER PRIMARY KEY, dealer_name TEXT, city TEXT, state TEXT, opened_year INTEGER);
CREATE TABLE vehicles (vin VARCHAR(17) PRIMARY KEY, make TEXT, model TEXT, model_year INTEGER, fuel TEXT, msrp DECIMAL(10,2));
CREATE TABLE vehicle_sales (sale_id INTEGER PRIMARY KEY, vin VARCHAR(17), dealer_id INTEGER, sale_date TEXT, sale_price DECIMAL(10,2), financing TEXT);
INSERT INTO dealerships (dealer_id, dealer_name, city, state, opened_year) VALUES
(1, 'Sunset Motors', 'Phoenix', 'AZ', 1998),
(2, 'Lakeside Auto Group', 'Chicago', 'IL', 2005),
(3, 'Bayview Cars', 'San Diego', 'CA', 2012),
(4, 'Prairie Ford & More', 'Omaha', 'NE', 1987),
(5, 'Evergreen EV Center', 'Seattle', 'WA', 2019);
INSERT INTO vehicles (vin, make, model, model_year, fuel, msrp) VALUES
('1HGCM82633A004352', 'Honda', 'Accord', 2023, 'Gasoline', 28990.00),
('5YJ3E1EA7KF317000', 'Tesla', 'Model 3', 2023, 'Electric', 40240.00),
('JTDKN3DU0A0123456', 'Toyota', 'Prius', 2022, 'Hybrid', 27450.00),
('1FTFW1E50MFA12345', 'Ford', 'F-150', 2023, 'Gasoline', 36770.00),
('WBA8E9G59GNT12345', 'BMW', '330i', 2022, 'Gasoline', 43800.00),
('KNDJP3A55H7123456', 'Kia', 'Niro EV', 2023, 'Electric', 39550.00),
('1N4AZ1CP0JC123456', 'Nissan', 'Leaf', 2022, 'Electric', 28140.00),
('3VW2B7AJ5HM123456', 'Volkswagen', 'Jetta', 2023, 'Diesel', NULL),
('2T3P1RFV8MW123456', 'Toyota', 'RAV4 Hybrid', 2023, 'Hybrid', 31725.00),
('1C4RJFBG0MC123456', 'Jeep', 'Grand Cherokee', 2022, 'Gasoline', 39095.00);
INSERT INTO vehicle_sales (sale_id, vin, dealer_id, sale_date, sale_price, financing) VALUES
(1, '1HGCM82633A004352', 1, '2023-05-03', 28100.00, 'loan'),
(2, '5YJ3E1EA7KF317000', 5, '2023-05-10', 39900.00, 'lease'),
(3, 'JTDKN3DU0A0123456', 3, '2023-05-14', 26800.00, 'cash'),
(4, '1FTFW1E50MFA12345', 4, '2023-06-01', 35500.00, 'loan'),
(5, 'KNDJP3A55H7123456', 5, '2023-06-09', 38250.00, 'loan'),
(6, 'WBA8E9G59GNT12345', 2, '2023-06-18', 42100.00, 'lease'),
(7, '2T3P1RFV8MW123456', 3, '2023-07-02', 31725.00, NULL),
(8, '1N4AZ1CP0JC123456', 5, '2023-07-15', 26900.00, 'cash'),
(9, '1C4RJFBG0MC123456', 1, '2023-07-21', 37600.00, 'loan');
"""),
    queries=[
        (B, DR, "List the electric vehicles in inventory with their MSRP.",
         "SELECT make, model, msrp FROM vehicles WHERE fuel = 'Electric';",
         "Filters vehicles on fuel type Electric."),
        (B, DM, "Set the MSRP of the Volkswagen Jetta to 22,995.",
         "UPDATE vehicles SET msrp = 22995.00 WHERE make = 'Volkswagen' AND model = 'Jetta';",
         "Fills in the missing MSRP of the Jetta."),
        (AGG, AR, "How many vehicles of each fuel type are in inventory, and what is their average MSRP?",
         "SELECT fuel, COUNT(*) AS num_vehicles, AVG(msrp) AS avg_msrp FROM vehicles GROUP BY fuel;",
         "Counts vehicles and averages known MSRPs per fuel type."),
        (J1, DR, "Show the dealership name and sale price of every vehicle sold in June 2023.",
         "SELECT d.dealer_name, s.sale_price FROM vehicle_sales s JOIN dealerships d ON s.dealer_id = d.dealer_id WHERE s.sale_date BETWEEN '2023-06-01' AND '2023-06-30';",
         "Joins sales to dealerships and restricts the sale date to June 2023."),
        (J1, AR, "How much below MSRP was each sold vehicle sold? Show make, model and the discount.",
         "SELECT v.make, v.model, v.msrp - s.sale_price AS discount FROM vehicle_sales s JOIN vehicles v ON s.vin = v.vin;",
         "Joins sales to vehicles on VIN and subtracts sale price from MSRP."),
        (JN, DR, "Which vehicles did each dealership sell? Show dealership name, make and model.",
         "SELECT d.dealer_name, v.make, v.model FROM vehicle_sales s JOIN vehicles v ON s.vin = v.vin JOIN dealerships d ON s.dealer_id = d.dealer_id;",
         "Joins sales to vehicles and dealerships."),
        (JN, AR, "What is the electric-vehicle sales revenue per dealership state?",
         "SELECT d.state, SUM(s.sale_price) AS ev_revenue FROM vehicle_sales s JOIN vehicles v ON s.vin = v.vin JOIN dealerships d ON s.dealer_id = d.dealer_id WHERE v.fuel = 'Electric' GROUP BY d.state;",
         "Joins the three tables, keeps electric vehicles and sums sale prices per state."),
        (SUB, DR, "Which vehicles in inventory have not been sold?",
         "SELECT make, model FROM vehicles WHERE vin NOT IN (SELECT vin FROM vehicle_sales);",
         "Keeps vehicles whose VIN is absent from sales."),
        (SUB, DR, "Which sales were above the average sale price?",
         "SELECT sale_id, vin, sale_price FROM vehicle_sales WHERE sale_price > (SELECT AVG(sale_price) FROM vehicle_sales);",
         "Compares each price with the average from a scalar subquery."),
        (SUB, DM, "Delete the sales recorded by dealerships in Washington state.",
         "DELETE FROM vehicle_sales WHERE dealer_id IN (SELECT dealer_id FROM dealerships WHERE state = 'WA');",
         "Deletes sales whose dealership is located in WA."),
        (WIN, AR, "For each dealership, list its sales in date order with a running total of revenue.",
         "SELECT dealer_id, sale_date, sale_price, SUM(sale_price) OVER (PARTITION BY dealer_id ORDER BY sale_date) AS running_revenue FROM vehicle_sales;",
         "SUM() OVER per dealership ordered by sale date."),
        (CTE, AR, "Which dealerships sold more than 60,000 worth of vehicles? Show name and total.",
         "WITH dealer_totals AS (SELECT dealer_id, SUM(sale_price) AS total_sales FROM vehicle_sales GROUP BY dealer_id) SELECT d.dealer_name, t.total_sales FROM dealer_totals t JOIN dealerships d ON d.dealer_id = t.dealer_id WHERE t.total_sales > 60000;",
         "The CTE totals sales per dealership; the outer query adds names and keeps totals above 60000."),
        (SET, DR, "Which dealer ids made both a loan-financed sale and a cash sale?",
         "SELECT dealer_id FROM vehicle_sales WHERE financing = 'loan' INTERSECT SELECT dealer_id FROM vehicle_sales WHERE financing = 'cash';",
         "INTERSECT keeps dealers found among loan and cash sales."),
        (SET, DR, "Which makes offer a hybrid or an electric vehicle? Combine the two lists.",
         "SELECT make FROM vehicles WHERE fuel = 'Hybrid' UNION SELECT make FROM vehicles WHERE fuel = 'Electric';",
         "UNION merges makes of hybrid and electric vehicles."),
    ],
))

# ----------------------------------------------------------------------------- telecommunications
SCHEMAS.append(dict(
    domain="telecommunications",
    description="A mobile operator's subscribers, tariff plans and monthly usage records.",
    context=ctx("""
CREATE TABLE plans (plan_id INTEGER PRIMARY KEY, plan_name TEXT, monthly_fee DECIMAL(6,2), data_gb INTEGER, plan_type TEXT);
CREATE TABLE subscribers (subscriber_id INTEGER PRIMARY KEY, full_name TEXT, city TEXT, plan_id INTEGER, activation_date TEXT, status TEXT);
CREATE TABLE usage_records (usage_id INTEGER PRIMARY KEY, subscriber_id INTEGER, usage_month TEXT, data_used_gb REAL, call_minutes INTEGER, sms_count INTEGER);
INSERT INTO plans (plan_id, plan_name, monthly_fee, data_gb, plan_type) VALUES
(1, 'Basic 5', 15.00, 5, 'prepaid'),
(2, 'Standard 20', 35.00, 20, 'postpaid'),
(3, 'Unlimited Plus', 60.00, NULL, 'postpaid'),
(4, 'Student 10', 20.00, 10, 'prepaid'),
(5, 'Family Share 50', 90.00, 50, 'postpaid');
INSERT INTO subscribers (subscriber_id, full_name, city, plan_id, activation_date, status) VALUES
(1, 'Aylin Kaya', 'İstanbul', 2, '2021-03-15', 'active'),
(2, 'Mehmet Demir', 'Ankara', 3, '2020-11-02', 'active'),
(3, 'Selin Arslan', 'İzmir', 1, '2022-06-20', 'suspended'),
(4, 'Emre Yıldız', 'İstanbul', 4, '2023-01-09', 'active'),
(5, 'Zeynep Çelik', 'Bursa', 5, '2019-08-25', 'active'),
(6, 'Can Öztürk', 'Ankara', 2, '2022-12-01', 'cancelled'),
(7, 'Deniz Aydın', 'İstanbul', 3, '2021-07-30', 'active'),
(8, 'Burak Şahin', 'İzmir', NULL, '2023-04-18', 'active'),
(9, 'Elif Koç', 'Antalya', 4, '2023-02-27', 'active');
INSERT INTO usage_records (usage_id, subscriber_id, usage_month, data_used_gb, call_minutes, sms_count) VALUES
(1, 1, '2023-05', 14.2, 320, 45),
(2, 1, '2023-06', 21.9, 280, 38),
(3, 2, '2023-05', 62.5, 510, 12),
(4, 2, '2023-06', 71.3, 470, 9),
(5, 3, '2023-05', 4.8, 90, 120),
(6, 4, '2023-05', 9.6, 150, 200),
(7, 4, '2023-06', 11.4, 130, 180),
(8, 5, '2023-05', 38.0, 640, 60),
(9, 7, '2023-05', 25.7, NULL, 15),
(10, 7, '2023-06', 31.2, 210, 22),
(11, 9, '2023-06', 7.5, 60, 95),
(12, 5, '2023-06', 44.1, 700, 55);
"""),
    queries=[
        (B, DR, "Which subscribers are not active? Show their names and statuses.",
         "SELECT full_name, status FROM subscribers WHERE status <> 'active';",
         "Keeps subscribers whose status differs from active."),
        (B, DM, "Reactivate subscriber 3 by setting the status to active.",
         "UPDATE subscribers SET status = 'active' WHERE subscriber_id = 3;",
         "Updates the status of subscriber 3."),
        (AGG, AR, "How much mobile data was used in each month in total?",
         "SELECT usage_month, SUM(data_used_gb) AS total_gb FROM usage_records GROUP BY usage_month;",
         "Sums data usage per month."),
        (AGG, AR, "How many active subscribers are there in each city?",
         "SELECT city, COUNT(*) AS active_subscribers FROM subscribers WHERE status = 'active' GROUP BY city;",
         "Filters active subscribers and counts them per city."),
        (J1, DR, "Show each subscriber's name with their plan name and monthly fee.",
         "SELECT s.full_name, p.plan_name, p.monthly_fee FROM subscribers s JOIN plans p ON s.plan_id = p.plan_id;",
         "Joins subscribers to plans; subscribers without a plan are left out by the inner join."),
        (J1, DR, "List every subscriber with their plan name, including subscribers without a plan.",
         "SELECT s.full_name, p.plan_name FROM subscribers s LEFT JOIN plans p ON s.plan_id = p.plan_id;",
         "A LEFT JOIN keeps subscribers whose plan_id is NULL, with a NULL plan name."),
        (JN, DR, "Which subscribers used more data in a month than their plan allows? Show name, month, usage and allowance.",
         "SELECT s.full_name, u.usage_month, u.data_used_gb, p.data_gb FROM usage_records u JOIN subscribers s ON u.subscriber_id = s.subscriber_id JOIN plans p ON s.plan_id = p.plan_id WHERE u.data_used_gb > p.data_gb;",
         "Joins usage to subscribers and plans and compares usage with the allowance; unlimited plans (NULL) never match."),
        (JN, AR, "What was the average data usage per plan name in June 2023?",
         "SELECT p.plan_name, AVG(u.data_used_gb) AS avg_gb FROM usage_records u JOIN subscribers s ON u.subscriber_id = s.subscriber_id JOIN plans p ON s.plan_id = p.plan_id WHERE u.usage_month = '2023-06' GROUP BY p.plan_name;",
         "Joins the three tables, keeps June 2023 and averages usage per plan."),
        (SUB, DR, "Which subscribers used more data in June 2023 than the June 2023 average?",
         "SELECT subscriber_id, data_used_gb FROM usage_records WHERE usage_month = '2023-06' AND data_used_gb > (SELECT AVG(data_used_gb) FROM usage_records WHERE usage_month = '2023-06');",
         "A scalar subquery computes the June average used in the filter."),
        (SUB, DR, "Which subscribers have no usage records at all?",
         "SELECT full_name FROM subscribers WHERE subscriber_id NOT IN (SELECT subscriber_id FROM usage_records);",
         "Keeps subscribers absent from usage_records."),
        (SUB, DM, "Suspend subscribers on prepaid plans who used more than 10 GB in any month.",
         "UPDATE subscribers SET status = 'suspended' WHERE plan_id IN (SELECT plan_id FROM plans WHERE plan_type = 'prepaid') AND subscriber_id IN (SELECT subscriber_id FROM usage_records WHERE data_used_gb > 10);",
         "Two IN subqueries restrict the update to prepaid subscribers with a heavy month."),
        (WIN, AR, "For each subscriber, show the month-over-month change in data usage.",
         "SELECT subscriber_id, usage_month, data_used_gb, data_used_gb - LAG(data_used_gb) OVER (PARTITION BY subscriber_id ORDER BY usage_month) AS change_gb FROM usage_records;",
         "LAG per subscriber ordered by month returns the previous usage to subtract."),
        (WIN, AR, "Rank subscribers by data usage within each month, heaviest first.",
         "SELECT usage_month, subscriber_id, data_used_gb, RANK() OVER (PARTITION BY usage_month ORDER BY data_used_gb DESC) AS usage_rank FROM usage_records;",
         "RANK partitioned by month and ordered by usage descending."),
        (CTE, AR, "What is the average monthly fee of active subscribers in each city, rounded to 2 decimals?",
         "WITH active_fees AS (SELECT s.city, p.monthly_fee FROM subscribers s JOIN plans p ON s.plan_id = p.plan_id WHERE s.status = 'active') SELECT city, ROUND(AVG(monthly_fee), 2) AS avg_fee FROM active_fees GROUP BY city;",
         "The CTE pairs active subscribers with their fee; the outer query averages per city."),
        (SET, DR, "Which subscriber ids have usage in May 2023 but none in June 2023?",
         "SELECT subscriber_id FROM usage_records WHERE usage_month = '2023-05' EXCEPT SELECT subscriber_id FROM usage_records WHERE usage_month = '2023-06';",
         "EXCEPT removes subscribers with June usage from those with May usage."),
    ],
))

# ----------------------------------------------------------------------------- food services
SCHEMAS.append(dict(
    domain="food services",
    description="San Francisco restaurants, their menus and health inspection results.",
    context=ctx("""
CREATE TABLE restaurants (restaurant_id INTEGER PRIMARY KEY, restaurant_name TEXT, cuisine TEXT, neighborhood TEXT, seating_capacity INTEGER, opened_date TEXT);
CREATE TABLE menu_items (item_id INTEGER PRIMARY KEY, restaurant_id INTEGER, item_name TEXT, category TEXT, price DECIMAL(6,2), is_vegetarian INTEGER);
CREATE TABLE inspections (inspection_id INTEGER PRIMARY KEY, restaurant_id INTEGER, inspection_date TEXT, score INTEGER, violations INTEGER, inspector TEXT);
INSERT INTO restaurants (restaurant_id, restaurant_name, cuisine, neighborhood, seating_capacity, opened_date) VALUES
(1, 'Trattoria Lucia', 'Italian', 'North Beach', 60, '2012-05-01'),
(2, 'Golden Lotus', 'Chinese', 'Chinatown', 85, '1998-10-15'),
(3, 'Taqueria El Sol', 'Mexican', 'Mission', 40, '2016-03-20'),
(4, 'Saffron House', 'Indian', 'SoMa', 55, '2019-08-08'),
(5, 'Blue Fin Sushi', 'Japanese', 'Marina', 35, '2021-01-12'),
(6, 'Le Petit Bistro', 'French', 'Hayes Valley', NULL, '2022-06-30');
INSERT INTO menu_items (item_id, restaurant_id, item_name, category, price, is_vegetarian) VALUES
(1, 1, 'Margherita Pizza', 'main', 18.50, 1),
(2, 1, 'Tiramisu', 'dessert', 9.00, 1),
(3, 1, 'Osso Buco', 'main', 34.00, 0),
(4, 2, 'Peking Duck', 'main', 42.00, 0),
(5, 2, 'Vegetable Spring Rolls', 'starter', 8.50, 1),
(6, 3, 'Carnitas Tacos', 'main', 13.75, 0),
(7, 3, 'Horchata', 'drink', 4.50, 1),
(8, 4, 'Paneer Tikka Masala', 'main', 19.25, 1),
(9, 4, 'Mango Lassi', 'drink', 6.00, 1),
(10, 5, 'Salmon Nigiri', 'main', 16.00, 0),
(11, 5, 'Mochi Trio', 'dessert', 7.50, 1),
(12, 6, 'Coq au Vin', 'main', 29.50, 0);
INSERT INTO inspections (inspection_id, restaurant_id, inspection_date, score, violations, inspector) VALUES
(1, 1, '2023-02-14', 92, 1, 'R. Alvarez'),
(2, 2, '2023-02-20', 78, 4, 'J. Chen'),
(3, 3, '2023-03-03', 88, 2, 'R. Alvarez'),
(4, 4, '2023-03-15', 95, 0, 'M. Okafor'),
(5, 5, '2023-04-02', 84, 3, 'J. Chen'),
(6, 2, '2023-08-21', 85, 2, 'M. Okafor'),
(7, 1, '2023-09-05', 96, 0, 'J. Chen'),
(8, 3, '2023-09-12', 81, 3, NULL),
(9, 5, '2023-10-01', 90, 1, 'R. Alvarez'),
(10, 4, '2023-10-09', 93, 1, 'M. Okafor');
"""),
    queries=[
        (B, DR, "List the vegetarian menu items that cost less than 10.",
         "SELECT item_name, price FROM menu_items WHERE is_vegetarian = 1 AND price < 10;",
         "Filters menu items on the vegetarian flag and price."),
        (B, DM, "Take Osso Buco off the menu.",
         "DELETE FROM menu_items WHERE item_name = 'Osso Buco';",
         "Deletes the menu item named Osso Buco."),
        (AGG, AR, "What is the average price of menu items in each category, rounded to 2 decimals?",
         "SELECT category, ROUND(AVG(price), 2) AS avg_price FROM menu_items GROUP BY category;",
         "Averages prices per menu category."),
        (J1, DR, "Which restaurants were inspected by J. Chen, and on what dates?",
         "SELECT r.restaurant_name, i.inspection_date FROM inspections i JOIN restaurants r ON i.restaurant_id = r.restaurant_id WHERE i.inspector = 'J. Chen';",
         "Joins inspections to restaurants and filters on the inspector."),
        (J1, AR, "What is the average inspection score for each cuisine?",
         "SELECT r.cuisine, AVG(i.score) AS avg_score FROM inspections i JOIN restaurants r ON i.restaurant_id = r.restaurant_id GROUP BY r.cuisine;",
         "Joins inspections to restaurants and averages scores per cuisine."),
        (JN, DR, "For restaurants that scored below 85 on an inspection, list the restaurant and its main dishes.",
         "SELECT r.restaurant_name, m.item_name FROM inspections i JOIN restaurants r ON i.restaurant_id = r.restaurant_id JOIN menu_items m ON m.restaurant_id = r.restaurant_id WHERE i.score < 85 AND m.category = 'main';",
         "Joins low-scoring inspections to restaurants and their main menu items."),
        (SUB, DR, "Which restaurants have never been inspected?",
         "SELECT restaurant_name FROM restaurants WHERE restaurant_id NOT IN (SELECT restaurant_id FROM inspections);",
         "Keeps restaurants absent from the inspections table."),
        (SUB, DR, "Which menu items cost more than the average price of their own restaurant's menu?",
         "SELECT m.item_name, m.price FROM menu_items m WHERE m.price > (SELECT AVG(m2.price) FROM menu_items m2 WHERE m2.restaurant_id = m.restaurant_id);",
         "A correlated subquery computes the average menu price of the same restaurant."),
        (SUB, DM, "Raise the price of every drink sold in the Mission neighborhood by 1.",
         "UPDATE menu_items SET price = price + 1 WHERE category = 'drink' AND restaurant_id IN (SELECT restaurant_id FROM restaurants WHERE neighborhood = 'Mission');",
         "Adds 1 to drink prices of restaurants located in the Mission."),
        (WIN, AR, "Show each restaurant's inspections in date order with the change in score since its previous inspection.",
         "SELECT restaurant_id, inspection_date, score, score - LAG(score) OVER (PARTITION BY restaurant_id ORDER BY inspection_date) AS score_change FROM inspections;",
         "LAG per restaurant ordered by date gives the previous score."),
        (CTE, AR, "Which restaurants average at least 90 points on their inspections?",
         "WITH avg_scores AS (SELECT restaurant_id, AVG(score) AS avg_score FROM inspections GROUP BY restaurant_id) SELECT r.restaurant_name, a.avg_score FROM avg_scores a JOIN restaurants r ON r.restaurant_id = a.restaurant_id WHERE a.avg_score >= 90;",
         "The CTE averages scores per restaurant; the outer query names those at 90 or above."),
        (SET, DR, "Which restaurant ids serve both a vegetarian main dish and a non-vegetarian main dish?",
         "SELECT restaurant_id FROM menu_items WHERE category = 'main' AND is_vegetarian = 1 INTERSECT SELECT restaurant_id FROM menu_items WHERE category = 'main' AND is_vegetarian = 0;",
         "INTERSECT keeps restaurants appearing in both sets of main dishes."),
    ],
))

# ----------------------------------------------------------------------------- public transportation
SCHEMAS.append(dict(
    domain="public transportation",
    description="A city transit agency's routes, vehicles and individual trips with ridership.",
    context=ctx("""
CREATE TABLE routes (route_id INTEGER PRIMARY KEY, route_name TEXT, mode TEXT, length_km REAL, launch_year INTEGER);
CREATE TABLE vehicles (vehicle_id INTEGER PRIMARY KEY, mode TEXT, model TEXT, capacity INTEGER, in_service_year INTEGER);
CREATE TABLE trips (trip_id INTEGER PRIMARY KEY, route_id INTEGER, vehicle_id INTEGER, trip_date TEXT, departure_time TEXT, riders INTEGER, fare_revenue DECIMAL(8,2), delayed INTEGER);
INSERT INTO routes (route_id, route_name, mode, length_km, launch_year) VALUES
(1, 'Red Line', 'metro', 18.4, 1995),
(2, 'Harbor Express', 'bus', 12.7, 2008),
(3, 'Old Town Loop', 'tram', 6.2, 2015),
(4, 'Airport Shuttle', 'bus', 24.9, 2012),
(5, 'Green Line', 'metro', 21.3, 2003),
(6, 'University Link', 'tram', 8.8, NULL);
INSERT INTO vehicles (vehicle_id, mode, model, capacity, in_service_year) VALUES
(1, 'metro', 'Alstom Metropolis', 900, 2010),
(2, 'bus', 'Volvo 7900 Electric', 90, 2020),
(3, 'tram', 'Siemens Avenio', 240, 2016),
(4, 'bus', 'MAN Lion City', 85, 2014),
(5, 'metro', 'CAF Inneo', 1000, 2019),
(6, 'tram', 'Stadler Tramlink', 200, 2021);
INSERT INTO trips (trip_id, route_id, vehicle_id, trip_date, departure_time, riders, fare_revenue, delayed) VALUES
(1, 1, 1, '2023-11-06', '07:30', 780, 1560.00, 0),
(2, 2, 2, '2023-11-06', '08:00', 64, 128.00, 1),
(3, 3, 3, '2023-11-06', '09:15', 150, 225.00, 0),
(4, 4, 4, '2023-11-06', '10:40', 52, 260.00, 0),
(5, 5, 5, '2023-11-06', '17:45', 910, 1820.00, 1),
(6, 1, 1, '2023-11-07', '07:30', 820, 1640.00, 0),
(7, 2, 4, '2023-11-07', '08:00', 71, 142.00, 0),
(8, 6, 6, '2023-11-07', '12:20', 95, 142.50, 0),
(9, 4, 2, '2023-11-07', '16:10', 47, 235.00, 1),
(10, 5, 5, '2023-11-07', '17:45', 870, 1740.00, 0),
(11, 3, 3, '2023-11-07', '09:15', 133, 199.50, NULL),
(12, 6, 6, '2023-11-08', '12:20', 110, 165.00, 0);
"""),
    queries=[
        (B, DR, "Which trips were delayed?",
         "SELECT trip_id, route_id, trip_date FROM trips WHERE delayed = 1;",
         "Filters trips on the delayed flag."),
        (B, DM, "Add route 7, the Riverside Ferry, a 5.4 km ferry route launched in 2024.",
         "INSERT INTO routes (route_id, route_name, mode, length_km, launch_year) VALUES (7, 'Riverside Ferry', 'ferry', 5.4, 2024);",
         "Inserts a new route row."),
        (AGG, AR, "How many riders did each route carry in total?",
         "SELECT route_id, SUM(riders) AS total_riders FROM trips GROUP BY route_id;",
         "Sums riders per route."),
        (AGG, AR, "What percentage of trips with a known status were delayed, rounded to 1 decimal?",
         "SELECT ROUND(100.0 * SUM(delayed) / COUNT(delayed), 1) AS pct_delayed FROM trips;",
         "Divides the number of delayed trips by the number of trips with a non-null delayed flag."),
        (J1, AR, "What is the total fare revenue for each transport mode?",
         "SELECT r.mode, SUM(t.fare_revenue) AS revenue FROM trips t JOIN routes r ON t.route_id = r.route_id GROUP BY r.mode;",
         "Joins trips to routes and sums revenue per mode."),
        (JN, AR, "For each trip, show the route name, the vehicle model and the load factor (riders as a percentage of capacity, rounded to 1 decimal).",
         "SELECT t.trip_id, r.route_name, v.model, ROUND(100.0 * t.riders / v.capacity, 1) AS load_pct FROM trips t JOIN routes r ON t.route_id = r.route_id JOIN vehicles v ON t.vehicle_id = v.vehicle_id;",
         "Joins trips to routes and vehicles and divides riders by capacity."),
        (SUB, DR, "Which routes had a trip carrying more riders than the average trip?",
         "SELECT route_name FROM routes WHERE route_id IN (SELECT route_id FROM trips WHERE riders > (SELECT AVG(riders) FROM trips));",
         "A scalar subquery computes the average ridership; an IN subquery finds routes with a busier trip."),
        (SUB, DM, "Delete the trips run by vehicles that entered service before 2015.",
         "DELETE FROM trips WHERE vehicle_id IN (SELECT vehicle_id FROM vehicles WHERE in_service_year < 2015);",
         "Deletes trips whose vehicle is found by a subquery on service year."),
        (WIN, AR, "For each route, show each trip's riders and the riders of the route's previous trip.",
         "SELECT route_id, trip_date, departure_time, riders, LAG(riders) OVER (PARTITION BY route_id ORDER BY trip_date, departure_time) AS previous_riders FROM trips;",
         "LAG per route ordered by date and time returns the previous trip's ridership."),
        (WIN, AR, "Rank the routes by total riders, busiest first.",
         "SELECT route_id, SUM(riders) AS total_riders, RANK() OVER (ORDER BY SUM(riders) DESC) AS ridership_rank FROM trips GROUP BY route_id;",
         "Groups trips by route and applies RANK over the summed riders."),
        (CTE, AR, "What fare revenue did each route earn per kilometre of route length, rounded to 2 decimals?",
         "WITH route_revenue AS (SELECT route_id, SUM(fare_revenue) AS revenue FROM trips GROUP BY route_id) SELECT r.route_name, ROUND(rr.revenue / r.length_km, 2) AS revenue_per_km FROM route_revenue rr JOIN routes r ON r.route_id = rr.route_id;",
         "The CTE totals revenue per route; the main query divides it by the route length."),
        (SET, DR, "Which vehicle ids ran trips on both 2023-11-06 and 2023-11-07?",
         "SELECT vehicle_id FROM trips WHERE trip_date = '2023-11-06' INTERSECT SELECT vehicle_id FROM trips WHERE trip_date = '2023-11-07';",
         "INTERSECT keeps vehicles used on both days."),
    ],
))

# ----------------------------------------------------------------------------- insurance
SCHEMAS.append(dict(
    domain="insurance",
    description="An insurer's policyholders, their policies and the claims filed against them.",
    context=ctx("""
CREATE TABLE policyholders (holder_id INTEGER PRIMARY KEY, full_name TEXT, birth_date TEXT, state TEXT, customer_since TEXT);
CREATE TABLE policies (policy_id INTEGER PRIMARY KEY, holder_id INTEGER, policy_type TEXT, annual_premium DECIMAL(8,2), start_date TEXT, end_date TEXT);
CREATE TABLE claims (claim_id INTEGER PRIMARY KEY, policy_id INTEGER, claim_date TEXT, claim_amount DECIMAL(10,2), claim_status TEXT, paid_amount DECIMAL(10,2));
INSERT INTO policyholders (holder_id, full_name, birth_date, state, customer_since) VALUES
(1, 'Robert Chávez', '1971-06-30', 'TX', '2009-04-12'),
(2, 'Linda Nakamura', '1985-02-17', 'CA', '2015-09-01'),
(3, 'Samuel Osei', '1990-12-05', 'TX', '2018-01-22'),
(4, 'Grace Whitman', '1962-08-09', 'FL', '2003-07-15'),
(5, 'Oksana Kovalenko', '1995-04-26', 'NY', '2021-11-30'),
(6, 'Ravi Iyer', '1979-10-11', 'CA', NULL),
(7, 'Chloé Martin', '2000-01-03', 'NY', '2023-02-14');
INSERT INTO policies (policy_id, holder_id, policy_type, annual_premium, start_date, end_date) VALUES
(1, 1, 'auto', 1380.00, '2023-01-01', '2023-12-31'),
(2, 1, 'home', 2150.00, '2023-03-01', '2024-02-29'),
(3, 2, 'auto', 1120.00, '2023-02-15', '2024-02-14'),
(4, 3, 'life', 640.00, '2022-06-01', NULL),
(5, 4, 'home', 3280.00, '2023-01-01', '2023-12-31'),
(6, 4, 'auto', 990.00, '2023-05-01', '2024-04-30'),
(7, 5, 'travel', 210.00, '2023-07-01', '2023-07-31'),
(8, 6, 'auto', 1460.00, '2023-04-10', '2024-04-09'),
(9, 6, 'home', 1890.00, '2023-04-10', '2024-04-09'),
(10, 7, 'auto', 1750.00, '2023-03-01', '2024-02-29');
INSERT INTO claims (claim_id, policy_id, claim_date, claim_amount, claim_status, paid_amount) VALUES
(1, 1, '2023-02-11', 4200.00, 'approved', 3700.00),
(2, 3, '2023-04-03', 1850.00, 'approved', 1350.00),
(3, 5, '2023-05-20', 12500.00, 'pending', NULL),
(4, 2, '2023-06-07', 800.00, 'denied', 0.00),
(5, 8, '2023-06-30', 2300.00, 'approved', 1800.00),
(6, 7, '2023-07-14', 650.00, 'approved', 650.00),
(7, 10, '2023-08-02', 5400.00, 'pending', NULL),
(8, 5, '2023-09-18', 3100.00, 'approved', 2600.00),
(9, 9, '2023-10-05', 7600.00, 'denied', 0.00);
"""),
    queries=[
        (B, DR, "Which claims are still pending?",
         "SELECT claim_id, policy_id, claim_amount FROM claims WHERE claim_status = 'pending';",
         "Filters claims on status pending."),
        (B, DM, "Approve claim 3 and record a payment of 11,000.",
         "UPDATE claims SET claim_status = 'approved', paid_amount = 11000.00 WHERE claim_id = 3;",
         "Updates two columns of claim 3."),
        (AGG, AR, "What are the total claimed and total paid amounts for each claim status?",
         "SELECT claim_status, SUM(claim_amount) AS total_claimed, SUM(paid_amount) AS total_paid FROM claims GROUP BY claim_status;",
         "Sums claimed and paid amounts per status."),
        (J1, DR, "List the policyholders who have an auto policy, with the annual premium.",
         "SELECT h.full_name, p.annual_premium FROM policies p JOIN policyholders h ON p.holder_id = h.holder_id WHERE p.policy_type = 'auto';",
         "Joins policies to policyholders and keeps auto policies."),
        (J1, AR, "How many claims have been filed for each policy type?",
         "SELECT p.policy_type, COUNT(c.claim_id) AS num_claims FROM claims c JOIN policies p ON c.policy_id = p.policy_id GROUP BY p.policy_type;",
         "Joins claims to policies and counts claims per policy type."),
        (JN, DR, "For every approved claim, show the policyholder's name, the policy type and the amount paid.",
         "SELECT h.full_name, p.policy_type, c.paid_amount FROM claims c JOIN policies p ON c.policy_id = p.policy_id JOIN policyholders h ON p.holder_id = h.holder_id WHERE c.claim_status = 'approved';",
         "Joins claims to policies and policyholders and keeps approved claims."),
        (SUB, DR, "Which policyholders have never filed a claim on any of their policies?",
         "SELECT full_name FROM policyholders WHERE holder_id NOT IN (SELECT holder_id FROM policies WHERE policy_id IN (SELECT policy_id FROM claims));",
         "Nested subqueries collect the holders of policies with claims; the rest are returned."),
        (SUB, DM, "Delete the denied claims filed on Ravi Iyer's policies.",
         "DELETE FROM claims WHERE claim_status = 'denied' AND policy_id IN (SELECT policy_id FROM policies WHERE holder_id = (SELECT holder_id FROM policyholders WHERE full_name = 'Ravi Iyer'));",
         "Nested subqueries find Ravi Iyer's policies; their denied claims are deleted."),
        (WIN, AR, "Rank each policyholder's policies by annual premium, highest first.",
         "SELECT holder_id, policy_id, policy_type, annual_premium, RANK() OVER (PARTITION BY holder_id ORDER BY annual_premium DESC) AS premium_rank FROM policies;",
         "RANK partitioned by holder and ordered by premium descending."),
        (WIN, AR, "List the claims in date order with the cumulative amount claimed so far.",
         "SELECT claim_id, claim_date, claim_amount, SUM(claim_amount) OVER (ORDER BY claim_date) AS cumulative_claimed FROM claims;",
         "SUM() OVER ordered by claim date yields a running total."),
        (CTE, AR, "Which policyholders pay more than 3,000 in total annual premiums?",
         "WITH premiums AS (SELECT holder_id, SUM(annual_premium) AS total_premium FROM policies GROUP BY holder_id) SELECT h.full_name, pr.total_premium FROM premiums pr JOIN policyholders h ON h.holder_id = pr.holder_id WHERE pr.total_premium > 3000;",
         "The CTE totals premiums per holder; the outer query names holders above 3000."),
        (SET, DR, "Which holder ids have both an auto policy and a home policy?",
         "SELECT holder_id FROM policies WHERE policy_type = 'auto' INTERSECT SELECT holder_id FROM policies WHERE policy_type = 'home';",
         "INTERSECT keeps holders present in both policy types."),
    ],
))

# ----------------------------------------------------------------------------- cybersecurity
SCHEMAS.append(dict(
    domain="cybersecurity",
    description="A company's IT assets, the vulnerabilities found on them and security incidents.",
    context=ctx("""
CREATE TABLE assets (asset_id INTEGER PRIMARY KEY, hostname TEXT, asset_type TEXT, os TEXT, owner_team TEXT, criticality TEXT);
CREATE TABLE vulnerabilities (vuln_id INTEGER PRIMARY KEY, asset_id INTEGER, cve_id TEXT, severity_score REAL, discovered_date TEXT, patched_date TEXT);
CREATE TABLE incidents (incident_id INTEGER PRIMARY KEY, asset_id INTEGER, incident_date TEXT, category TEXT, severity TEXT, resolved INTEGER);
INSERT INTO assets (asset_id, hostname, asset_type, os, owner_team, criticality) VALUES
(1, 'web-prod-01', 'server', 'Ubuntu 22.04', 'Platform', 'high'),
(2, 'db-prod-01', 'database', 'RHEL 9', 'Data', 'high'),
(3, 'fw-edge-01', 'firewall', 'PAN-OS 11', 'Network', 'high'),
(4, 'lt-mkt-014', 'laptop', 'Windows 11', 'Marketing', 'low'),
(5, 'lt-eng-102', 'laptop', 'macOS 14', 'Engineering', 'medium'),
(6, 'build-ci-03', 'server', 'Debian 12', 'Platform', 'medium'),
(7, 'lt-fin-007', 'laptop', 'Windows 10', NULL, 'medium');
INSERT INTO vulnerabilities (vuln_id, asset_id, cve_id, severity_score, discovered_date, patched_date) VALUES
(1, 1, 'CVE-2023-90101', 7.5, '2023-10-11', '2023-10-14'),
(2, 1, 'CVE-2023-90102', 9.8, '2023-10-12', NULL),
(3, 2, 'CVE-2023-90215', 7.2, '2023-06-05', '2023-06-20'),
(4, 3, 'CVE-2023-90330', 9.8, '2023-07-19', '2023-07-21'),
(5, 4, 'CVE-2023-90418', 8.8, '2023-07-12', NULL),
(6, 5, 'CVE-2023-90522', 7.8, '2023-09-08', '2023-09-12'),
(7, 6, 'CVE-2023-90607', 7.8, '2023-10-04', '2023-10-06'),
(8, 7, 'CVE-2023-90418', 8.8, '2023-07-12', '2023-08-01'),
(9, 2, 'CVE-2023-90731', 8.8, '2023-12-07', NULL),
(10, 6, 'CVE-2023-90844', 9.8, '2023-07-20', '2023-07-25');
INSERT INTO incidents (incident_id, asset_id, incident_date, category, severity, resolved) VALUES
(1, 4, '2023-07-15', 'phishing', 'medium', 1),
(2, 1, '2023-10-13', 'intrusion', 'critical', 1),
(3, 7, '2023-08-02', 'malware', 'high', 1),
(4, 5, '2023-09-10', 'phishing', 'low', 1),
(5, 2, '2023-06-18', 'misconfiguration', 'medium', 1),
(6, 4, '2023-11-03', 'malware', 'high', 0),
(7, 6, '2023-10-05', 'intrusion', 'high', NULL),
(8, 3, '2023-07-20', 'intrusion', 'critical', 1);
"""),
    queries=[
        (B, DR, "List the laptops that run Windows.",
         "SELECT hostname, os FROM assets WHERE asset_type = 'laptop' AND os LIKE 'Windows%';",
         "Filters assets on type laptop and an operating system starting with Windows."),
        (B, DM, "Mark vulnerability 5 as patched on 2023-11-10.",
         "UPDATE vulnerabilities SET patched_date = '2023-11-10' WHERE vuln_id = 5;",
         "Sets the patched date of vulnerability 5."),
        (AGG, AR, "What is the average severity score of the vulnerabilities discovered in each month, rounded to 2 decimals?",
         "SELECT SUBSTR(discovered_date, 1, 7) AS discovered_month, ROUND(AVG(severity_score), 2) AS avg_score FROM vulnerabilities GROUP BY SUBSTR(discovered_date, 1, 7);",
         "Groups vulnerabilities by year-month of discovery and averages the score."),
        (AGG, AR, "How many incidents of each category have occurred?",
         "SELECT category, COUNT(*) AS num_incidents FROM incidents GROUP BY category;",
         "Counts incidents per category."),
        (J1, DR, "List the hostnames of assets with unpatched vulnerabilities, with the CVE id and score.",
         "SELECT a.hostname, v.cve_id, v.severity_score FROM vulnerabilities v JOIN assets a ON v.asset_id = a.asset_id WHERE v.patched_date IS NULL;",
         "Joins vulnerabilities to assets and keeps those without a patch date."),
        (J1, AR, "How many incidents has each owner team had?",
         "SELECT a.owner_team, COUNT(i.incident_id) AS num_incidents FROM incidents i JOIN assets a ON i.asset_id = a.asset_id GROUP BY a.owner_team;",
         "Joins incidents to assets and counts incidents per owner team."),
        (JN, DR, "For high-criticality assets, list each vulnerability scored 9 or higher together with the incidents on the same asset.",
         "SELECT a.hostname, v.cve_id, i.category FROM assets a JOIN vulnerabilities v ON v.asset_id = a.asset_id JOIN incidents i ON i.asset_id = a.asset_id WHERE a.criticality = 'high' AND v.severity_score >= 9;",
         "Joins assets to vulnerabilities and incidents and filters on criticality and score."),
        (SUB, DR, "Which assets have no unpatched vulnerabilities?",
         "SELECT hostname FROM assets WHERE asset_id NOT IN (SELECT asset_id FROM vulnerabilities WHERE patched_date IS NULL);",
         "Excludes assets that appear among unpatched vulnerabilities."),
        (SUB, DR, "Which vulnerabilities score above the average severity score?",
         "SELECT vuln_id, cve_id, severity_score FROM vulnerabilities WHERE severity_score > (SELECT AVG(severity_score) FROM vulnerabilities);",
         "Compares each score with the average from a scalar subquery."),
        (SUB, DM, "Mark as resolved every unresolved incident on assets owned by the Platform team.",
         "UPDATE incidents SET resolved = 1 WHERE (resolved = 0 OR resolved IS NULL) AND asset_id IN (SELECT asset_id FROM assets WHERE owner_team = 'Platform');",
         "Sets resolved to 1 for open incidents whose asset belongs to the Platform team."),
        (WIN, DR, "Number the vulnerabilities of each asset in order of discovery.",
         "SELECT asset_id, cve_id, discovered_date, ROW_NUMBER() OVER (PARTITION BY asset_id ORDER BY discovered_date) AS discovery_seq FROM vulnerabilities;",
         "ROW_NUMBER per asset ordered by discovery date."),
        (CTE, AR, "Which owner teams have an average vulnerability score above 8.5?",
         "WITH team_vulns AS (SELECT a.owner_team, v.severity_score FROM vulnerabilities v JOIN assets a ON v.asset_id = a.asset_id) SELECT owner_team, AVG(severity_score) AS avg_score FROM team_vulns GROUP BY owner_team HAVING AVG(severity_score) > 8.5;",
         "The CTE attaches the owner team to each vulnerability; the main query averages per team and keeps those above 8.5."),
        (SET, DR, "Which asset ids have had a phishing incident or a malware incident?",
         "SELECT asset_id FROM incidents WHERE category = 'phishing' UNION SELECT asset_id FROM incidents WHERE category = 'malware';",
         "UNION merges the two sets of asset ids."),
    ],
))

# ----------------------------------------------------------------------------- manufacturing
SCHEMAS.append(dict(
    domain="manufacturing",
    description="Factories, their production machines and daily production runs with defect counts.",
    context=ctx("""
CREATE TABLE factories (factory_id INTEGER PRIMARY KEY, factory_name TEXT, city TEXT, country TEXT, opened_year INTEGER);
CREATE TABLE machines (machine_id INTEGER PRIMARY KEY, factory_id INTEGER, machine_type TEXT, manufacturer TEXT, install_date TEXT, hourly_capacity INTEGER);
CREATE TABLE production_runs (run_id INTEGER PRIMARY KEY, machine_id INTEGER, run_date TEXT, units_produced INTEGER, defective_units INTEGER, shift TEXT);
INSERT INTO factories (factory_id, factory_name, city, country, opened_year) VALUES
(1, 'Gdańsk Plant', 'Gdańsk', 'Poland', 2006),
(2, 'Monterrey Works', 'Monterrey', 'Mexico', 2011),
(3, 'Pune Assembly', 'Pune', 'India', 2015),
(4, 'Ohio Stamping', 'Toledo', 'USA', 1994),
(5, 'Porto Components', 'Porto', 'Portugal', 2020);
INSERT INTO machines (machine_id, factory_id, machine_type, manufacturer, install_date, hourly_capacity) VALUES
(1, 1, 'CNC Lathe', 'Haas', '2016-04-12', 120),
(2, 1, 'Injection Molder', 'Engel', '2018-09-03', 300),
(3, 2, 'Stamping Press', 'Schuler', '2012-01-20', 450),
(4, 2, 'CNC Lathe', 'Okuma', '2019-06-15', 110),
(5, 3, 'Assembly Robot', 'Fanuc', '2020-11-02', 200),
(6, 3, 'Injection Molder', 'Arburg', NULL, 280),
(7, 4, 'Stamping Press', 'Aida', '2001-05-30', 400),
(8, 4, 'Welding Robot', 'ABB', '2017-08-21', 150);
INSERT INTO production_runs (run_id, machine_id, run_date, units_produced, defective_units, shift) VALUES
(1, 1, '2023-11-01', 900, 12, 'day'),
(2, 2, '2023-11-01', 2300, 41, 'day'),
(3, 3, '2023-11-01', 3500, 28, 'night'),
(4, 4, '2023-11-02', 820, 9, 'day'),
(5, 5, '2023-11-02', 1550, 6, 'day'),
(6, 6, '2023-11-02', 2050, 65, 'night'),
(7, 7, '2023-11-03', 3100, 52, 'day'),
(8, 8, '2023-11-03', 1120, 15, 'night'),
(9, 1, '2023-11-03', 870, NULL, 'night'),
(10, 3, '2023-11-04', 3380, 31, 'day'),
(11, 5, '2023-11-04', 1610, 4, 'night'),
(12, 7, '2023-11-04', 2950, 47, 'night');
"""),
    queries=[
        (B, DR, "Which machines were installed before 2015?",
         "SELECT machine_id, machine_type, install_date FROM machines WHERE install_date < '2015-01-01';",
         "Compares ISO install dates with 2015-01-01; machines without a date are excluded."),
        (B, DM, "Record 10 defective units for production run 9.",
         "UPDATE production_runs SET defective_units = 10 WHERE run_id = 9;",
         "Fills in the missing defect count of run 9."),
        (AGG, AR, "What is the total output and the total number of defective units for each shift?",
         "SELECT shift, SUM(units_produced) AS units, SUM(defective_units) AS defects FROM production_runs GROUP BY shift;",
         "Sums units and defects per shift."),
        (AGG, AR, "What was the defect rate on each run date, as a percentage rounded to 2 decimals, counting only runs with a recorded defect count?",
         "SELECT run_date, ROUND(100.0 * SUM(defective_units) / SUM(units_produced), 2) AS defect_pct FROM production_runs WHERE defective_units IS NOT NULL GROUP BY run_date;",
         "Divides summed defects by summed units per date over runs with a known defect count."),
        (J1, DR, "Show the machine type and units produced for every run on 2023-11-02.",
         "SELECT m.machine_type, r.units_produced FROM production_runs r JOIN machines m ON r.machine_id = m.machine_id WHERE r.run_date = '2023-11-02';",
         "Joins runs to machines and keeps one date."),
        (J1, AR, "How many machines does each factory have? Include factories without machines.",
         "SELECT f.factory_name, COUNT(m.machine_id) AS num_machines FROM factories f LEFT JOIN machines m ON m.factory_id = f.factory_id GROUP BY f.factory_name;",
         "A LEFT JOIN keeps every factory; counting machine ids gives 0 where none exist."),
        (JN, AR, "How many units were produced in each country?",
         "SELECT f.country, SUM(r.units_produced) AS units FROM production_runs r JOIN machines m ON r.machine_id = m.machine_id JOIN factories f ON m.factory_id = f.factory_id GROUP BY f.country;",
         "Joins runs to machines and factories and sums units per country."),
        (SUB, DR, "Which machines had a run producing more than eight hours' worth of their hourly capacity?",
         "SELECT m.machine_id, m.machine_type FROM machines m WHERE EXISTS (SELECT 1 FROM production_runs r WHERE r.machine_id = m.machine_id AND r.units_produced > m.hourly_capacity * 8);",
         "A correlated EXISTS subquery looks for a run above eight times the hourly capacity."),
        (SUB, DM, "Delete the production runs of the machines at the Ohio Stamping factory.",
         "DELETE FROM production_runs WHERE machine_id IN (SELECT machine_id FROM machines WHERE factory_id = (SELECT factory_id FROM factories WHERE factory_name = 'Ohio Stamping'));",
         "Nested subqueries find the factory and its machines, whose runs are deleted."),
        (WIN, AR, "For each machine, show a running total of units produced in date order.",
         "SELECT machine_id, run_date, units_produced, SUM(units_produced) OVER (PARTITION BY machine_id ORDER BY run_date) AS running_units FROM production_runs;",
         "SUM() OVER per machine ordered by run date."),
        (WIN, AR, "Show each run's output next to the average output of all runs on the same shift.",
         "SELECT run_id, shift, units_produced, AVG(units_produced) OVER (PARTITION BY shift) AS shift_avg FROM production_runs;",
         "AVG() OVER partitioned by shift attaches the shift average to each run."),
        (CTE, AR, "Which machines have a defect rate above 1.5 percent? Show id, type and rate rounded to 2 decimals.",
         "WITH rates AS (SELECT machine_id, 100.0 * SUM(defective_units) / SUM(units_produced) AS defect_pct FROM production_runs WHERE defective_units IS NOT NULL GROUP BY machine_id) SELECT m.machine_id, m.machine_type, ROUND(r.defect_pct, 2) AS defect_pct FROM rates r JOIN machines m ON m.machine_id = r.machine_id WHERE r.defect_pct > 1.5;",
         "The CTE computes each machine's defect rate; the outer query keeps rates above 1.5 percent."),
        (SET, DR, "Which machine types are used both at factory 1 (Gdańsk Plant) and at factory 2 (Monterrey Works)?",
         "SELECT machine_type FROM machines WHERE factory_id = 1 INTERSECT SELECT machine_type FROM machines WHERE factory_id = 2;",
         "INTERSECT keeps machine types present in both factories."),
    ],
))

# ----------------------------------------------------------------------------- fitness
SCHEMAS.append(dict(
    domain="fitness",
    description="A gym's members, its weekly group classes and class attendance.",
    context=ctx("""
CREATE TABLE members (member_id INTEGER PRIMARY KEY, full_name TEXT, gender TEXT, birth_date TEXT, join_date TEXT, membership_type TEXT);
CREATE TABLE fitness_classes (class_id INTEGER PRIMARY KEY, class_name TEXT, instructor TEXT, class_day TEXT, duration_min INTEGER, max_capacity INTEGER);
CREATE TABLE attendance (attendance_id INTEGER PRIMARY KEY, member_id INTEGER, class_id INTEGER, attend_date TEXT, calories_burned INTEGER);
INSERT INTO members (member_id, full_name, gender, birth_date, join_date, membership_type) VALUES
(1, 'Hannah Schulz', 'F', '1990-03-08', '2022-01-10', 'premium'),
(2, 'Oliver Grant', 'M', '1985-07-19', '2021-06-01', 'basic'),
(3, 'Yasmin Farouk', 'F', '1998-11-30', '2023-02-14', 'student'),
(4, 'Leo Marchetti', 'M', '1979-05-02', '2020-09-23', 'premium'),
(5, 'Ava Thompson', 'F', '2001-01-17', '2023-05-05', 'student'),
(6, 'Kai Nakamura', 'M', '1993-09-12', '2022-11-11', 'basic'),
(7, 'Sofia Rossi', 'F', '1987-04-25', '2019-03-30', NULL),
(8, 'Mateus Lima', 'M', '1995-12-09', '2023-08-19', 'premium');
INSERT INTO fitness_classes (class_id, class_name, instructor, class_day, duration_min, max_capacity) VALUES
(1, 'Morning Yoga', 'Priya Desai', 'Mon', 60, 20),
(2, 'HIIT Blast', 'Marcus Reed', 'Tue', 45, 15),
(3, 'Spin Express', 'Marcus Reed', 'Wed', 30, 25),
(4, 'Pilates Core', 'Elena Ivanova', 'Thu', 50, 12),
(5, 'Boxing Basics', 'Dwayne Carter', 'Fri', 60, 16),
(6, 'Aqua Fit', 'Priya Desai', 'Sat', 45, NULL);
INSERT INTO attendance (attendance_id, member_id, class_id, attend_date, calories_burned) VALUES
(1, 1, 1, '2023-09-04', 210),
(2, 2, 2, '2023-09-05', 480),
(3, 3, 1, '2023-09-04', 190),
(4, 4, 3, '2023-09-06', 400),
(5, 1, 4, '2023-09-07', 260),
(6, 5, 2, '2023-09-05', 450),
(7, 6, 5, '2023-09-08', 620),
(8, 4, 5, '2023-09-08', 580),
(9, 1, 2, '2023-09-12', 495),
(10, 8, 3, '2023-09-13', NULL),
(11, 3, 4, '2023-09-14', 240),
(12, 6, 2, '2023-09-12', 470);
"""),
    queries=[
        (B, DR, "Which members have a premium membership?",
         "SELECT full_name, join_date FROM members WHERE membership_type = 'premium';",
         "Filters members on membership type."),
        (B, DM, "Put Sofia Rossi on a basic membership.",
         "UPDATE members SET membership_type = 'basic' WHERE full_name = 'Sofia Rossi';",
         "Fills in the missing membership type of Sofia Rossi."),
        (AGG, AR, "How many members joined in each year?",
         "SELECT SUBSTR(join_date, 1, 4) AS join_year, COUNT(*) AS new_members FROM members GROUP BY SUBSTR(join_date, 1, 4);",
         "Extracts the year from the join date and counts members per year."),
        (J1, AR, "How many attendances has each class had? Show the class names.",
         "SELECT c.class_name, COUNT(a.attendance_id) AS attendances FROM attendance a JOIN fitness_classes c ON a.class_id = c.class_id GROUP BY c.class_name;",
         "Joins attendance to classes and counts rows per class."),
        (JN, DR, "List the member name, class name and instructor for attendances between 2023-09-11 and 2023-09-17.",
         "SELECT m.full_name, c.class_name, c.instructor FROM attendance a JOIN members m ON a.member_id = m.member_id JOIN fitness_classes c ON a.class_id = c.class_id WHERE a.attend_date BETWEEN '2023-09-11' AND '2023-09-17';",
         "Joins attendance to members and classes and filters the date range."),
        (SUB, DR, "Which classes has nobody attended?",
         "SELECT class_name FROM fitness_classes WHERE class_id NOT IN (SELECT class_id FROM attendance);",
         "Keeps classes absent from attendance."),
        (SUB, DM, "Delete the attendance records of classes taught by Marcus Reed on 2023-09-12.",
         "DELETE FROM attendance WHERE attend_date = '2023-09-12' AND class_id IN (SELECT class_id FROM fitness_classes WHERE instructor = 'Marcus Reed');",
         "Deletes attendances on that date whose class is taught by Marcus Reed."),
        (WIN, AR, "For each member, list their attendances in date order with the cumulative calories burned.",
         "SELECT member_id, attend_date, calories_burned, SUM(calories_burned) OVER (PARTITION BY member_id ORDER BY attend_date) AS cumulative_calories FROM attendance;",
         "SUM() OVER per member ordered by date."),
        (CTE, AR, "What is the average number of calories burned per attendance in each instructor's classes, rounded to 1 decimal?",
         "WITH instructor_sessions AS (SELECT c.instructor, a.calories_burned FROM attendance a JOIN fitness_classes c ON a.class_id = c.class_id) SELECT instructor, ROUND(AVG(calories_burned), 1) AS avg_calories FROM instructor_sessions GROUP BY instructor;",
         "The CTE pairs each attendance with its instructor; the outer query averages calories per instructor."),
        (SET, DR, "Which member ids attended both Morning Yoga (class 1) and Pilates Core (class 4)?",
         "SELECT member_id FROM attendance WHERE class_id = 1 INTERSECT SELECT member_id FROM attendance WHERE class_id = 4;",
         "INTERSECT keeps members found in both classes."),
    ],
))

# ----------------------------------------------------------------------------- maritime
SCHEMAS.append(dict(
    domain="maritime",
    description="Merchant vessels, seaports and the port calls vessels make.",
    context=ctx("""
CREATE TABLE vessels (vessel_id INTEGER PRIMARY KEY, vessel_name TEXT, flag_country TEXT, vessel_type TEXT, gross_tonnage INTEGER, built_year INTEGER);
CREATE TABLE ports (port_id INTEGER PRIMARY KEY, port_name TEXT, country TEXT, max_draft_m REAL);
CREATE TABLE port_calls (call_id INTEGER PRIMARY KEY, vessel_id INTEGER, port_id INTEGER, arrival_date TEXT, departure_date TEXT, cargo_teu INTEGER);
INSERT INTO vessels (vessel_id, vessel_name, flag_country, vessel_type, gross_tonnage, built_year) VALUES
(1, 'Nordic Aurora', 'Norway', 'cruise', 96000, 2012),
(2, 'Pacific Venture', 'Panama', 'container', 152000, 2017),
(3, 'Cape Resolute', 'Liberia', 'bulk carrier', 88000, 2009),
(4, 'Halden Trader', 'Denmark', 'container', 141000, 2019),
(5, 'Gulf Meridian', 'Marshall Islands', 'tanker', 160000, 2015),
(6, 'Southern Cross', 'Malta', 'container', 98000, NULL),
(7, 'Baltic Star', 'Finland', 'tanker', 42000, 2004);
INSERT INTO ports (port_id, port_name, country, max_draft_m) VALUES
(1, 'Rotterdam', 'Netherlands', 24.0),
(2, 'Singapore', 'Singapore', 20.0),
(3, 'Santos', 'Brazil', 14.5),
(4, 'Hamburg', 'Germany', 15.1),
(5, 'Durban', 'South Africa', 12.8);
INSERT INTO port_calls (call_id, vessel_id, port_id, arrival_date, departure_date, cargo_teu) VALUES
(1, 2, 2, '2023-03-01', '2023-03-03', 4200),
(2, 4, 1, '2023-03-02', '2023-03-04', 5100),
(3, 5, 1, '2023-03-05', '2023-03-07', NULL),
(4, 1, 4, '2023-03-06', '2023-03-06', NULL),
(5, 3, 3, '2023-03-08', '2023-03-12', NULL),
(6, 6, 5, '2023-03-09', '2023-03-11', 1800),
(7, 2, 1, '2023-03-14', '2023-03-16', 3900),
(8, 4, 4, '2023-03-15', '2023-03-17', 4600),
(9, 7, 1, '2023-03-18', '2023-03-19', NULL),
(10, 6, 2, '2023-03-20', '2023-03-22', 2100),
(11, 2, 2, '2023-03-28', '2023-03-30', 4400);
"""),
    queries=[
        (B, DR, "Which vessels were built before 2010?",
         "SELECT vessel_name, built_year FROM vessels WHERE built_year < 2010;",
         "Filters vessels on build year."),
        (B, DM, "Set the build year of the Southern Cross to 2011.",
         "UPDATE vessels SET built_year = 2011 WHERE vessel_name = 'Southern Cross';",
         "Fills in the missing build year of that vessel."),
        (AGG, AR, "How many containers (TEU) were handled at each port id in total?",
         "SELECT port_id, SUM(cargo_teu) AS total_teu FROM port_calls GROUP BY port_id;",
         "Sums TEU per port; ports visited only by non-container ships get NULL."),
        (AGG, AR, "How many vessels of each type are there, and what is their average gross tonnage?",
         "SELECT vessel_type, COUNT(*) AS num_vessels, AVG(gross_tonnage) AS avg_tonnage FROM vessels GROUP BY vessel_type;",
         "Counts vessels and averages tonnage per type."),
        (J1, DR, "List the vessel name and TEU of every port call that handled containers.",
         "SELECT v.vessel_name, pc.cargo_teu FROM port_calls pc JOIN vessels v ON pc.vessel_id = v.vessel_id WHERE pc.cargo_teu IS NOT NULL;",
         "Joins port calls to vessels and keeps calls with a TEU count."),
        (JN, DR, "Show the vessel name, port name and arrival date of every call made by a tanker.",
         "SELECT v.vessel_name, p.port_name, pc.arrival_date FROM port_calls pc JOIN vessels v ON pc.vessel_id = v.vessel_id JOIN ports p ON pc.port_id = p.port_id WHERE v.vessel_type = 'tanker';",
         "Joins port calls to vessels and ports and filters on vessel type."),
        (SUB, DR, "Which ports have never been visited by a container ship?",
         "SELECT port_name FROM ports WHERE port_id NOT IN (SELECT port_id FROM port_calls WHERE vessel_id IN (SELECT vessel_id FROM vessels WHERE vessel_type = 'container'));",
         "Nested subqueries find ports called at by container ships; the remaining ports are returned."),
        (SUB, DM, "Delete the port calls of vessels flagged in Panama.",
         "DELETE FROM port_calls WHERE vessel_id IN (SELECT vessel_id FROM vessels WHERE flag_country = 'Panama');",
         "Deletes calls whose vessel flies the Panama flag."),
        (WIN, DR, "Number each vessel's port calls in order of arrival.",
         "SELECT vessel_id, port_id, arrival_date, ROW_NUMBER() OVER (PARTITION BY vessel_id ORDER BY arrival_date) AS call_seq FROM port_calls;",
         "ROW_NUMBER per vessel ordered by arrival date."),
        (CTE, AR, "Which vessels made more than one port call? Show the vessel name and number of calls.",
         "WITH call_counts AS (SELECT vessel_id, COUNT(*) AS num_calls FROM port_calls GROUP BY vessel_id) SELECT v.vessel_name, c.num_calls FROM call_counts c JOIN vessels v ON v.vessel_id = c.vessel_id WHERE c.num_calls > 1;",
         "The CTE counts calls per vessel; the outer query names vessels with more than one."),
        (SET, DR, "Which vessel ids called at both port 1 (Rotterdam) and port 2 (Singapore)?",
         "SELECT vessel_id FROM port_calls WHERE port_id = 1 INTERSECT SELECT vessel_id FROM port_calls WHERE port_id = 2;",
         "INTERSECT keeps vessels found at both ports."),
    ],
))

# ----------------------------------------------------------------------------- space exploration
SCHEMAS.append(dict(
    domain="space exploration",
    description="Space missions, astronauts and the crews assigned to crewed missions.",
    context=ctx("""
CREATE TABLE missions (mission_id INTEGER PRIMARY KEY, mission_name TEXT, agency TEXT, launch_date TEXT, destination TEXT, mission_status TEXT, budget_musd REAL);
CREATE TABLE astronauts (astronaut_id INTEGER PRIMARY KEY, full_name TEXT, nationality TEXT, agency TEXT, birth_date TEXT);
CREATE TABLE mission_crew (crew_id INTEGER PRIMARY KEY, mission_id INTEGER, astronaut_id INTEGER, crew_role TEXT);
INSERT INTO missions (mission_id, mission_name, agency, launch_date, destination, mission_status, budget_musd) VALUES
(1, 'Kestrel One', 'NASA', '2021-04-22', 'ISS', 'success', 310.0),
(2, 'Helios Relay', 'ESA', '2021-11-10', 'LEO', 'success', 145.5),
(3, 'Selene Pathfinder', 'NASA', '2022-08-29', 'Moon', 'failure', 820.0),
(4, 'Red Dune Explorer', 'ESA', '2022-09-15', 'Mars', 'ongoing', 1250.0),
(5, 'Polaris Outpost 3', 'JAXA', '2023-02-02', 'ISS', 'success', 270.0),
(6, 'Kestrel Two', 'NASA', '2023-06-18', 'ISS', 'success', 295.0),
(7, 'Lunar Lantern', 'ISRO', '2023-08-23', 'Moon', 'success', NULL);
INSERT INTO astronauts (astronaut_id, full_name, nationality, agency, birth_date) VALUES
(1, 'Rachel Moreno', 'USA', 'NASA', '1979-02-14'),
(2, 'Derek Okafor', 'USA', 'NASA', '1983-07-07'),
(3, 'Ingrid Solberg', 'Norway', 'ESA', '1985-10-21'),
(4, 'Takumi Hayashi', 'Japan', 'JAXA', '1981-05-30'),
(5, 'Claire Dubois', 'France', 'ESA', '1988-12-03'),
(6, 'Samuel Levin', 'USA', 'NASA', '1990-03-19'),
(7, 'Ananya Rao', 'India', 'ISRO', '1992-06-11'),
(8, 'Marco Bellini', 'Italy', 'ESA', NULL);
INSERT INTO mission_crew (crew_id, mission_id, astronaut_id, crew_role) VALUES
(1, 1, 1, 'commander'),
(2, 1, 3, 'specialist'),
(3, 1, 4, 'engineer'),
(4, 3, 2, 'commander'),
(5, 3, 6, 'pilot'),
(6, 5, 4, 'commander'),
(7, 5, 5, 'specialist'),
(8, 6, 1, 'commander'),
(9, 6, 6, 'pilot');
"""),
    queries=[
        (B, DR, "Which missions failed?",
         "SELECT mission_name, launch_date FROM missions WHERE mission_status = 'failure';",
         "Filters missions on status failure."),
        (B, DM, "Mark the Red Dune Explorer mission as a success.",
         "UPDATE missions SET mission_status = 'success' WHERE mission_name = 'Red Dune Explorer';",
         "Updates the status of that mission."),
        (AGG, AR, "What is the total mission budget of each agency, in millions of USD?",
         "SELECT agency, SUM(budget_musd) AS total_budget_musd FROM missions GROUP BY agency;",
         "Sums budgets per agency; an agency with only unknown budgets gets NULL."),
        (AGG, AR, "How many missions went to each destination?",
         "SELECT destination, COUNT(*) AS num_missions FROM missions GROUP BY destination;",
         "Counts missions per destination."),
        (J1, DR, "List the astronauts who served as mission commander, with the mission id.",
         "SELECT a.full_name, mc.mission_id FROM mission_crew mc JOIN astronauts a ON mc.astronaut_id = a.astronaut_id WHERE mc.crew_role = 'commander';",
         "Joins crew assignments to astronauts and keeps commanders."),
        (J1, AR, "How many crew members flew on each crewed mission? Show the mission names.",
         "SELECT m.mission_name, COUNT(*) AS crew_size FROM mission_crew mc JOIN missions m ON mc.mission_id = m.mission_id GROUP BY m.mission_name;",
         "Joins crew rows to missions and counts them per mission."),
        (JN, DR, "List the crew of every mission to the ISS: mission name, astronaut name and role.",
         "SELECT m.mission_name, a.full_name, mc.crew_role FROM mission_crew mc JOIN missions m ON mc.mission_id = m.mission_id JOIN astronauts a ON mc.astronaut_id = a.astronaut_id WHERE m.destination = 'ISS';",
         "Joins crew assignments to missions and astronauts and filters on destination."),
        (SUB, DR, "Which astronauts have not flown on any mission yet?",
         "SELECT full_name FROM astronauts WHERE astronaut_id NOT IN (SELECT astronaut_id FROM mission_crew);",
         "Keeps astronauts absent from mission_crew."),
        (SUB, DR, "Which missions had a budget above the average mission budget?",
         "SELECT mission_name, budget_musd FROM missions WHERE budget_musd > (SELECT AVG(budget_musd) FROM missions);",
         "Compares each budget with the average from a scalar subquery."),
        (SUB, DM, "Remove all crew assignments of failed missions.",
         "DELETE FROM mission_crew WHERE mission_id IN (SELECT mission_id FROM missions WHERE mission_status = 'failure');",
         "Deletes crew rows whose mission has status failure."),
        (WIN, AR, "For each agency, list its missions in launch order with the running total of budget.",
         "SELECT agency, mission_name, launch_date, SUM(budget_musd) OVER (PARTITION BY agency ORDER BY launch_date) AS running_budget FROM missions;",
         "SUM() OVER per agency ordered by launch date."),
        (CTE, AR, "Which astronauts have flown on more than one mission? Show their names and the number of missions.",
         "WITH flights AS (SELECT astronaut_id, COUNT(*) AS num_missions FROM mission_crew GROUP BY astronaut_id) SELECT a.full_name, f.num_missions FROM flights f JOIN astronauts a ON a.astronaut_id = f.astronaut_id WHERE f.num_missions > 1;",
         "The CTE counts missions per astronaut; the outer query names those with more than one."),
        (SET, DR, "Which astronaut ids have been commander on one mission and held a different role on another?",
         "SELECT astronaut_id FROM mission_crew WHERE crew_role = 'commander' INTERSECT SELECT astronaut_id FROM mission_crew WHERE crew_role <> 'commander';",
         "INTERSECT keeps astronauts present in both the commander and non-commander sets."),
        (SET, DR, "List every agency that appears either as a mission agency or as an astronaut's agency.",
         "SELECT agency FROM missions UNION SELECT agency FROM astronauts;",
         "UNION merges both agency columns without duplicates."),
    ],
))

# ----------------------------------------------------------------------------- libraries
SCHEMAS.append(dict(
    domain="libraries",
    description="A public library's authors, book catalog, members and loans.",
    context=ctx("""
CREATE TABLE authors (author_id INTEGER PRIMARY KEY, author_name TEXT, country TEXT, birth_year INTEGER);
CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER, genre TEXT, published_year INTEGER, copies INTEGER);
CREATE TABLE library_members (member_id INTEGER PRIMARY KEY, member_name TEXT, city TEXT, joined_date TEXT);
CREATE TABLE loans (loan_id INTEGER PRIMARY KEY, book_id INTEGER, member_id INTEGER, loan_date TEXT, due_date TEXT, return_date TEXT);
INSERT INTO authors (author_id, author_name, country, birth_year) VALUES
(1, 'Chimamanda Adeyemi', 'Nigeria', 1977),
(2, 'Lars Henriksen', 'Denmark', 1965),
(3, 'Mariana Quiroga', 'Argentina', 1982),
(4, 'Haruki Tanabe', 'Japan', 1958),
(5, 'Eleanor Whitcombe', 'UK', 1990),
(6, 'Tomasz Wrona', 'Poland', NULL);
INSERT INTO books (book_id, title, author_id, genre, published_year, copies) VALUES
(1, 'The Salt Road', 1, 'Literary Fiction', 2015, 3),
(2, 'Harbor of Ghosts', 2, 'Mystery', 2018, 2),
(3, 'Winter Ledger', 2, 'Mystery', 2021, 4),
(4, 'Rivers Beneath Us', 3, 'Literary Fiction', 2019, 2),
(5, 'Lanterns at Low Tide', 5, 'Historical', 2022, 5),
(6, 'Quiet Machines', 4, 'Science Fiction', 2012, 3),
(7, 'Orbit of Small Things', 4, 'Science Fiction', 2020, 1),
(8, 'A Field Guide to Leaving', 3, 'Essays', 2023, 2),
(9, 'Midnight at Kestrel Hall', 5, 'Mystery', 2023, NULL),
(10, 'Forest Grammar', 6, 'Poetry', 2017, 1);
INSERT INTO library_members (member_id, member_name, city, joined_date) VALUES
(1, 'Ruth Abernathy', 'Leeds', '2019-02-11'),
(2, 'Imran Siddiqui', 'York', '2020-08-30'),
(3, 'Beatriz Nunes', 'Leeds', '2021-05-14'),
(4, 'George Pembroke', 'Harrogate', '2018-11-02'),
(5, 'Mei Tanaka', 'York', '2022-03-19'),
(6, 'Callum Fraser', 'Leeds', '2023-01-07'),
(7, 'Zofia Nowak', 'Harrogate', '2023-06-25');
INSERT INTO loans (loan_id, book_id, member_id, loan_date, due_date, return_date) VALUES
(1, 1, 1, '2023-09-01', '2023-09-22', '2023-09-18'),
(2, 2, 2, '2023-09-03', '2023-09-24', '2023-09-25'),
(3, 6, 3, '2023-09-05', '2023-09-26', '2023-09-20'),
(4, 3, 1, '2023-09-10', '2023-10-01', NULL),
(5, 4, 4, '2023-09-12', '2023-10-03', '2023-10-01'),
(6, 9, 5, '2023-09-15', '2023-10-06', NULL),
(7, 7, 3, '2023-09-18', '2023-10-09', '2023-10-12'),
(8, 1, 6, '2023-09-20', '2023-10-11', '2023-10-05'),
(9, 8, 2, '2023-09-25', '2023-10-16', NULL),
(10, 2, 4, '2023-10-01', '2023-10-22', '2023-10-20'),
(11, 5, 5, '2023-10-02', '2023-10-23', NULL),
(12, 6, 1, '2023-10-04', '2023-10-25', '2023-10-24');
"""),
    queries=[
        (B, DR, "Which loans have not been returned yet?",
         "SELECT loan_id, book_id, member_id, due_date FROM loans WHERE return_date IS NULL;",
         "Returns loans without a return date."),
        (B, DR, "Which loans were returned after their due date?",
         "SELECT loan_id, due_date, return_date FROM loans WHERE return_date > due_date;",
         "Compares ISO return and due dates as strings."),
        (B, DM, "Record that loan 4 was returned on 2023-09-30.",
         "UPDATE loans SET return_date = '2023-09-30' WHERE loan_id = 4;",
         "Sets the return date of loan 4."),
        (B, DM, "Register member 8, Priya Shah from York, who joined on 2023-11-01.",
         "INSERT INTO library_members (member_id, member_name, city, joined_date) VALUES (8, 'Priya Shah', 'York', '2023-11-01');",
         "Inserts a new member row."),
        (AGG, AR, "How many titles and how many copies does the library hold in each genre?",
         "SELECT genre, COUNT(*) AS num_titles, SUM(copies) AS total_copies FROM books GROUP BY genre;",
         "Counts books and sums copies per genre."),
        (AGG, AR, "Which genre has the most copies on the shelves in total?",
         "SELECT genre, SUM(copies) AS total_copies FROM books GROUP BY genre ORDER BY SUM(copies) DESC LIMIT 1;",
         "Sums copies per genre and keeps the genre with the highest total."),
        (J1, DR, "List the titles of books written by Haruki Tanabe.",
         "SELECT b.title FROM books b JOIN authors a ON b.author_id = a.author_id WHERE a.author_name = 'Haruki Tanabe';",
         "Joins books to authors and filters on the author name."),
        (J1, AR, "How many loans has each member made? Include members with no loans.",
         "SELECT m.member_name, COUNT(l.loan_id) AS num_loans FROM library_members m LEFT JOIN loans l ON l.member_id = m.member_id GROUP BY m.member_name;",
         "A LEFT JOIN keeps members without loans, who get a count of 0."),
        (JN, DR, "Which members borrowed mystery books? Show the member name, the title and the loan date.",
         "SELECT m.member_name, b.title, l.loan_date FROM loans l JOIN books b ON l.book_id = b.book_id JOIN library_members m ON l.member_id = m.member_id WHERE b.genre = 'Mystery';",
         "Joins loans to books and members and keeps mystery books."),
        (JN, AR, "For books borrowed by members from Leeds, how many loans did each author get?",
         "SELECT a.author_name, COUNT(*) AS num_loans FROM loans l JOIN library_members m ON l.member_id = m.member_id JOIN books b ON l.book_id = b.book_id JOIN authors a ON b.author_id = a.author_id WHERE m.city = 'Leeds' GROUP BY a.author_name;",
         "Joins all four tables, keeps Leeds members and counts loans per author."),
        (SUB, DR, "Which books have never been borrowed?",
         "SELECT title FROM books WHERE book_id NOT IN (SELECT book_id FROM loans);",
         "Keeps books absent from loans."),
        (SUB, DR, "Which members have borrowed a book by a UK author?",
         "SELECT member_name FROM library_members WHERE member_id IN (SELECT member_id FROM loans WHERE book_id IN (SELECT book_id FROM books WHERE author_id IN (SELECT author_id FROM authors WHERE country = 'UK')));",
         "Three nested IN subqueries go from UK authors to their books, to loans, to members."),
        (SUB, DM, "Delete the loans of members who joined in 2023.",
         "DELETE FROM loans WHERE member_id IN (SELECT member_id FROM library_members WHERE joined_date >= '2023-01-01');",
         "Deletes loans whose member joined on or after 2023-01-01."),
        (WIN, DR, "For each member, list their loans with the date of that member's next loan.",
         "SELECT member_id, loan_id, loan_date, LEAD(loan_date) OVER (PARTITION BY member_id ORDER BY loan_date) AS next_loan_date FROM loans;",
         "LEAD per member ordered by loan date."),
        (WIN, DR, "Rank each author's books by publication year, newest first.",
         "SELECT author_id, title, published_year, RANK() OVER (PARTITION BY author_id ORDER BY published_year DESC) AS recency_rank FROM books;",
         "RANK partitioned by author ordered by year descending."),
        (CTE, AR, "Which books have been borrowed more than once? Show the title and the number of loans.",
         "WITH loan_counts AS (SELECT book_id, COUNT(*) AS num_loans FROM loans GROUP BY book_id) SELECT b.title, lc.num_loans FROM loan_counts lc JOIN books b ON b.book_id = lc.book_id WHERE lc.num_loans > 1;",
         "The CTE counts loans per book; the outer query names books with more than one loan."),
        (CTE, AR, "How many distinct books have the members of each city borrowed?",
         "WITH city_loans AS (SELECT m.city, l.book_id FROM loans l JOIN library_members m ON l.member_id = m.member_id) SELECT city, COUNT(DISTINCT book_id) AS distinct_books FROM city_loans GROUP BY city;",
         "The CTE pairs loans with the member's city; the main query counts distinct books per city."),
        (SET, DR, "Which member ids borrowed books in both September and October 2023?",
         "SELECT member_id FROM loans WHERE loan_date BETWEEN '2023-09-01' AND '2023-09-30' INTERSECT SELECT member_id FROM loans WHERE loan_date BETWEEN '2023-10-01' AND '2023-10-31';",
         "INTERSECT keeps members with a loan in each month."),
        (SET, DR, "Which book ids have been borrowed but are not currently out on loan?",
         "SELECT book_id FROM loans EXCEPT SELECT book_id FROM loans WHERE return_date IS NULL;",
         "EXCEPT removes books with an open loan from all borrowed books."),
    ],
))

# ----------------------------------------------------------------------------- pharmaceuticals
SCHEMAS.append(dict(
    domain="pharmaceuticals",
    description="Clinical drug trials and the participants enrolled in them.",
    context=ctx("""
CREATE TABLE trials (trial_id INTEGER PRIMARY KEY, trial_code TEXT, drug_name TEXT, phase INTEGER, condition_studied TEXT, sponsor TEXT, start_date TEXT, target_enrollment INTEGER);
CREATE TABLE participants (participant_id INTEGER PRIMARY KEY, trial_id INTEGER, age INTEGER, sex TEXT, site_city TEXT, enrollment_date TEXT, arm TEXT, outcome_score REAL, adverse_event INTEGER);
INSERT INTO trials (trial_id, trial_code, drug_name, phase, condition_studied, sponsor, start_date, target_enrollment) VALUES
(1, 'NVX-101', 'Cardiovex', 2, 'Hypertension', 'Northvale Pharma', '2022-03-01', 120),
(2, 'BRL-220', 'Brelora', 3, 'Type 2 Diabetes', 'Halcyon Biotech', '2021-09-15', 400),
(3, 'QTM-045', 'Quintamab', 1, 'Rheumatoid Arthritis', 'Northvale Pharma', '2023-01-10', 40),
(4, 'LMX-310', 'Lumexin', 2, 'Migraine', 'Aster Therapeutics', '2022-11-20', 150),
(5, 'SRP-777', 'Seraphine', 3, 'Major Depression', 'Halcyon Biotech', '2023-05-02', NULL);
INSERT INTO participants (participant_id, trial_id, age, sex, site_city, enrollment_date, arm, outcome_score, adverse_event) VALUES
(1, 1, 54, 'F', 'Chicago', '2022-03-15', 'treatment', 72.5, 0),
(2, 1, 61, 'M', 'Chicago', '2022-03-18', 'placebo', 64.0, 0),
(3, 1, 47, 'M', 'Denver', '2022-04-02', 'treatment', 78.0, 1),
(4, 2, 58, 'F', 'Houston', '2021-10-01', 'treatment', 81.5, 0),
(5, 2, 66, 'M', 'Houston', '2021-10-05', 'placebo', 69.0, 1),
(6, 2, 52, 'F', 'Atlanta', '2021-10-20', 'treatment', NULL, 0),
(7, 3, 39, 'F', 'Boston', '2023-02-01', 'treatment', 58.5, 1),
(8, 3, 44, 'M', 'Boston', '2023-02-03', 'placebo', 55.0, 0),
(9, 4, 33, 'F', 'Denver', '2022-12-05', 'treatment', 74.0, 0),
(10, 4, 29, 'F', 'Chicago', '2022-12-09', 'placebo', 61.0, 0),
(11, 4, 41, 'M', 'Atlanta', '2023-01-12', 'treatment', 76.5, 1),
(12, 2, 70, 'M', 'Atlanta', '2021-11-02', 'treatment', 79.0, 0);
"""),
    queries=[
        (B, DR, "Which participants reported an adverse event?",
         "SELECT participant_id, trial_id, arm FROM participants WHERE adverse_event = 1;",
         "Filters participants on the adverse_event flag."),
        (B, DM, "Record an outcome score of 80 for participant 6.",
         "UPDATE participants SET outcome_score = 80.0 WHERE participant_id = 6;",
         "Fills in the missing outcome score of participant 6."),
        (AGG, AR, "What is the average outcome score in each study arm, rounded to 2 decimals?",
         "SELECT arm, ROUND(AVG(outcome_score), 2) AS avg_score FROM participants GROUP BY arm;",
         "Averages outcome scores per arm, ignoring missing scores."),
        (AGG, AR, "How many participants has each site city enrolled?",
         "SELECT site_city, COUNT(*) AS num_participants FROM participants GROUP BY site_city;",
         "Counts participants per site city."),
        (J1, AR, "What is the average participant age in each trial? Show the drug names.",
         "SELECT t.drug_name, AVG(p.age) AS avg_age FROM participants p JOIN trials t ON p.trial_id = t.trial_id GROUP BY t.drug_name;",
         "Joins participants to trials and averages age per drug."),
        (J1, DR, "List the participants of phase 3 trials with the drug name and study arm.",
         "SELECT p.participant_id, t.drug_name, p.arm FROM participants p JOIN trials t ON p.trial_id = t.trial_id WHERE t.phase = 3;",
         "Joins participants to trials and keeps phase 3."),
        (SUB, DR, "Which trials have no participants enrolled yet?",
         "SELECT trial_code, drug_name FROM trials WHERE trial_id NOT IN (SELECT trial_id FROM participants);",
         "Keeps trials absent from participants."),
        (SUB, DR, "Which treatment-arm participants scored above the average score of the placebo arm?",
         "SELECT participant_id, outcome_score FROM participants WHERE arm = 'treatment' AND outcome_score > (SELECT AVG(outcome_score) FROM participants WHERE arm = 'placebo');",
         "A scalar subquery computes the placebo average used in the filter."),
        (SUB, DM, "Withdraw (delete) the participants of trials sponsored by Aster Therapeutics.",
         "DELETE FROM participants WHERE trial_id IN (SELECT trial_id FROM trials WHERE sponsor = 'Aster Therapeutics');",
         "Deletes participants whose trial has that sponsor."),
        (WIN, AR, "Within each trial, rank the participants with a recorded outcome by score, highest first.",
         "SELECT trial_id, participant_id, outcome_score, RANK() OVER (PARTITION BY trial_id ORDER BY outcome_score DESC) AS score_rank FROM participants WHERE outcome_score IS NOT NULL;",
         "RANK per trial over participants with a known score."),
        (WIN, AR, "For each trial, show the running count of enrolled participants in enrollment order.",
         "SELECT trial_id, participant_id, enrollment_date, COUNT(*) OVER (PARTITION BY trial_id ORDER BY enrollment_date) AS enrolled_so_far FROM participants;",
         "COUNT(*) OVER per trial ordered by enrollment date gives a running count."),
        (CTE, AR, "For each trial, how much higher is the average treatment score than the average placebo score (rounded to 2 decimals)?",
         "WITH arm_avg AS (SELECT trial_id, AVG(CASE WHEN arm = 'treatment' THEN outcome_score END) AS treatment_avg, AVG(CASE WHEN arm = 'placebo' THEN outcome_score END) AS placebo_avg FROM participants GROUP BY trial_id) SELECT trial_id, ROUND(treatment_avg - placebo_avg, 2) AS effect FROM arm_avg;",
         "The CTE computes per-trial averages per arm with conditional aggregation; the main query subtracts them."),
        (SET, DR, "Which site cities enrolled participants in both trial 1 and trial 4?",
         "SELECT site_city FROM participants WHERE trial_id = 1 INTERSECT SELECT site_city FROM participants WHERE trial_id = 4;",
         "INTERSECT keeps cities appearing in both trials."),
    ],
))

# ----------------------------------------------------------------------------- public safety
SCHEMAS.append(dict(
    domain="public safety",
    description="A city's emergency call log with dispatch and response details.",
    context=ctx("""
CREATE TABLE emergency_calls (call_id INTEGER PRIMARY KEY, call_date TEXT, call_time TEXT, district TEXT, incident_type TEXT, priority INTEGER, response_minutes REAL, units_dispatched INTEGER);
INSERT INTO emergency_calls (call_id, call_date, call_time, district, incident_type, priority, response_minutes, units_dispatched) VALUES
(1, '2023-07-01', '08:14', 'Northside', 'medical', 1, 6.5, 2),
(2, '2023-07-01', '11:52', 'Downtown', 'traffic', 2, 9.0, 1),
(3, '2023-07-01', '23:40', 'Eastgate', 'crime', 1, 7.5, 3),
(4, '2023-07-02', '02:15', 'Northside', 'fire', 1, 5.0, 4),
(5, '2023-07-02', '09:30', 'Riverside', 'medical', 2, 11.0, 1),
(6, '2023-07-02', '14:05', 'Downtown', 'crime', 3, NULL, 1),
(7, '2023-07-02', '18:47', 'Eastgate', 'traffic', 2, 12.5, 2),
(8, '2023-07-03', '07:22', 'Riverside', 'fire', 1, 8.0, 5),
(9, '2023-07-03', '12:10', 'Downtown', 'medical', 1, 4.5, 2),
(10, '2023-07-03', '16:35', 'Northside', 'crime', 2, 10.0, 2),
(11, '2023-07-03', '21:58', 'Eastgate', 'medical', 3, 15.5, 1),
(12, '2023-07-04', '00:45', 'Riverside', 'traffic', 1, 6.0, 2);
"""),
    queries=[
        (B, DR, "Which calls were priority 1? Show the district, incident type and response time.",
         "SELECT district, incident_type, response_minutes FROM emergency_calls WHERE priority = 1;",
         "Filters calls on priority 1."),
        (B, DR, "What were the three fastest recorded response times, and for which calls?",
         "SELECT call_id, district, response_minutes FROM emergency_calls WHERE response_minutes IS NOT NULL ORDER BY response_minutes ASC LIMIT 3;",
         "Excludes calls without a response time, sorts the rest ascending and keeps three."),
        (B, DM, "Set the response time of call 6 to 18 minutes.",
         "UPDATE emergency_calls SET response_minutes = 18.0 WHERE call_id = 6;",
         "Fills in the missing response time of call 6."),
        (B, DM, "Delete the calls with priority 3.",
         "DELETE FROM emergency_calls WHERE priority = 3;",
         "Removes the lowest-priority calls."),
        (AGG, AR, "What is the average response time in each district, rounded to 2 decimals?",
         "SELECT district, ROUND(AVG(response_minutes), 2) AS avg_response FROM emergency_calls GROUP BY district;",
         "Averages response minutes per district, ignoring unknown times."),
        (AGG, AR, "How many units were dispatched for each incident type?",
         "SELECT incident_type, SUM(units_dispatched) AS units FROM emergency_calls GROUP BY incident_type;",
         "Sums dispatched units per incident type."),
        (SUB, DR, "Which calls had a response time longer than the average response time?",
         "SELECT call_id, district, response_minutes FROM emergency_calls WHERE response_minutes > (SELECT AVG(response_minutes) FROM emergency_calls);",
         "Compares each response time with the average from a scalar subquery."),
        (SUB, DR, "List the medical calls from districts that also had a fire call.",
         "SELECT call_id, district FROM emergency_calls WHERE incident_type = 'medical' AND district IN (SELECT district FROM emergency_calls WHERE incident_type = 'fire');",
         "An IN subquery finds districts with a fire call, and their medical calls are returned."),
        (WIN, DR, "Number the calls of each district in chronological order.",
         "SELECT district, call_id, call_date, call_time, ROW_NUMBER() OVER (PARTITION BY district ORDER BY call_date, call_time) AS call_seq FROM emergency_calls;",
         "ROW_NUMBER per district ordered by date and time."),
        (WIN, AR, "Show each call's response time next to the average response time of its district.",
         "SELECT call_id, district, response_minutes, AVG(response_minutes) OVER (PARTITION BY district) AS district_avg FROM emergency_calls;",
         "AVG() OVER partitioned by district."),
        (CTE, AR, "Which districts had more than 5 units dispatched in total?",
         "WITH district_units AS (SELECT district, SUM(units_dispatched) AS total_units FROM emergency_calls GROUP BY district) SELECT district, total_units FROM district_units WHERE total_units > 5;",
         "The CTE sums units per district; the outer query keeps totals above 5."),
        (CTE, AR, "What percentage of each day's calls were medical, rounded to 1 decimal?",
         "WITH daily AS (SELECT call_date, COUNT(*) AS total_calls, SUM(CASE WHEN incident_type = 'medical' THEN 1 ELSE 0 END) AS medical_calls FROM emergency_calls GROUP BY call_date) SELECT call_date, ROUND(100.0 * medical_calls / total_calls, 1) AS pct_medical FROM daily;",
         "The CTE counts all and medical calls per day; the main query turns them into a percentage."),
        (SET, DR, "Which districts had both a fire call and a crime call?",
         "SELECT district FROM emergency_calls WHERE incident_type = 'fire' INTERSECT SELECT district FROM emergency_calls WHERE incident_type = 'crime';",
         "INTERSECT keeps districts present in both call types."),
        (SET, DR, "Which districts had priority 1 calls but no priority 3 calls?",
         "SELECT district FROM emergency_calls WHERE priority = 1 EXCEPT SELECT district FROM emergency_calls WHERE priority = 3;",
         "EXCEPT removes districts with a priority 3 call."),
    ],
))

# ============================================================================= output
# Everything above is data; below, the records are assembled and written.

NUMBERS = {2: "two", 3: "three", 4: "four"}
AGG_FUNCS = ("COUNT", "SUM", "AVG", "MIN", "MAX")
WINDOW_FUNCS = ("ROW_NUMBER", "DENSE_RANK", "RANK", "NTILE", "LAG", "LEAD", "FIRST_VALUE",
                "SUM", "AVG", "COUNT", "MIN", "MAX")


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def complexity_description(cls: str, sql: str) -> str:
    """One sentence describing what the gold query uses, derived from its text."""
    s = " ".join(sql.upper().split())
    kind = s.split()[0]
    if cls == B:
        if kind == "SELECT":
            return "basic SQL with a simple select statement" + (" filtered by a WHERE clause" if " WHERE " in s else "")
        return f"basic SQL with a simple {kind.lower()} statement"
    if cls == AGG:
        funcs = [f for f in AGG_FUNCS if re.search(rf"\b{f}\s*\(", s)]
        text = f"aggregation functions ({_listing(funcs)})" if funcs else "aggregation"
        if " GROUP BY " in s:
            text += " with GROUP BY"
        if " HAVING " in s:
            text += " and a HAVING clause"
        return text
    if cls in (J1, JN):
        kinds = []
        for word, label in (("LEFT JOIN", "left"), ("CROSS JOIN", "cross")):
            if word in s:
                kinds.append(label)
        n_join = len(re.findall(r"\bJOIN\b", s))
        n_inner = n_join - sum(s.count(w) for w in ("LEFT JOIN", "CROSS JOIN"))
        if n_inner:
            kinds.insert(0, "inner")
        if cls == J1:
            return f"only one join ({kinds[0]} join)"
        if len(kinds) == 1:
            return f"{NUMBERS.get(n_join, str(n_join))} {kinds[0]} joins"
        return f"{NUMBERS.get(n_join, str(n_join))} joins ({_listing(kinds)})"
    if cls == SUB:
        parts = []
        if re.search(r"\bIN \(SELECT", s):
            parts.append("an IN subquery")
        if "EXISTS (SELECT" in s:
            parts.append("a correlated EXISTS subquery")
        if re.search(r"\b(FROM|JOIN) \(SELECT", s):
            parts.append("a derived table in the FROM clause")
        if re.search(r"(?<!\bIN )(?<!EXISTS )(?<!FROM )(?<!JOIN )\(SELECT", s):
            parts.append("a scalar subquery")
        text = "subqueries, including " + _listing(parts) if parts else "subqueries"
        if kind in ("UPDATE", "DELETE", "INSERT"):
            text += f", used in {'an' if kind[0] in 'AEIOU' else 'a'} {kind} statement"
        return text
    if cls == WIN:
        funcs = [f for f in WINDOW_FUNCS if re.search(rf"\b{f}\s*\([^()]*\)\s*OVER", s)]
        text = f"window functions ({_listing(funcs)})"
        over = " ".join(re.findall(r"OVER \(([^)]*)\)", s))
        extra = [w for w, k in (("partitioning", "PARTITION BY"), ("ordering", "ORDER BY")) if k in over]
        return text + (" with " + " and ".join(extra) if extra else "")
    if cls == CTE:
        n = len(re.findall(r"\b\w+ AS \(SELECT", s))
        return "a common table expression (CTE)" if n <= 1 else f"{NUMBERS.get(n, str(n))} common table expressions (CTEs)"
    if cls == SET:
        n_union_all = s.count("UNION ALL")
        ops = ["UNION ALL"] if n_union_all else []
        if s.count("UNION") > n_union_all:
            ops.append("UNION")
        ops += [op for op in ("INTERSECT", "EXCEPT") if re.search(rf"\b{op}\b", s)]
        return "set operations (" + _listing(ops) + ")"
    raise ValueError(cls)


def build_records() -> list[dict]:
    records = []
    for schema in SCHEMAS:
        for cls, task, question, sql, explanation in schema["queries"]:
            assert cls in (B, AGG, J1, JN, SUB, WIN, CTE, SET), cls
            assert task in (AR, DR, DM), task
            assert sql.endswith(";") and '"' not in sql, sql
            records.append({
                "id": len(records) + 1,
                "domain": schema["domain"],
                "domain_description": schema["description"],
                "sql_complexity": cls,
                "sql_complexity_description": complexity_description(cls, sql),
                "sql_task_type": task,
                "sql_prompt": question,
                "sql_context": schema["context"],
                "sql": sql,
                "sql_explanation": explanation,
            })
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default: {OUT})")
    args = parser.parse_args()
    records = build_records()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records from {len(SCHEMAS)} schemas to {args.out}")


if __name__ == "__main__":
    main()
